"""Who did what: runs, alias moves (promotions) and deployment changes record their actor.

The CLI runs as a real subprocess whose OS user is set through ``LOGNAME`` (what
``getpass.getuser`` reads first); the server is a real Jupyter server (pytest-jupyter) whose
identity provider signs everyone in as ``grace``; runs execute on real kernels and a real
keeper and serving process serve the deployment.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPResponse

from jupyter_mlops.actors import os_user

pytestmark = pytest.mark.kernel

NOTEBOOK = make_notebook(
    ("x: int = 2", "parameters"),
    ("doubled = x * 2", "mlops:fn:double"),
    ("score = float(doubled + 1)", "mlops:fn:score"),
)  # fmt: skip


def cli(root: Path, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOGNAME": user, "USER": user}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_the_os_user_has_a_name() -> None:
    assert os_user()


def test_the_cli_records_the_os_user_on_runs_and_alias_moves(tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    ran = cli(tmp_path, "ana", "run", "nb.ipynb", "--function", "double", "--json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    assert run["actor"] == "ana"
    tagged = cli(tmp_path, "bob", "tag", "double", run["version"][:12], "production")
    assert tagged.returncode == 0, tagged.stderr

    listing = cli(tmp_path, "bob", "runs")
    header, row = listing.stdout.splitlines()[:2]
    assert header.split()[:4] == ["run", "status", "function", "by"]
    assert row.split()[1:4] == ["succeeded", "double", "ana"]
    shown = cli(tmp_path, "bob", "show", run["id"])
    assert "  by: ana" in shown.stdout.splitlines()
    versions = cli(tmp_path, "bob", "versions", "double").stdout
    assert f"production -> {run['version'][:12]}  by bob" in versions

    swept = cli(tmp_path, "dana", "sweep", "nb.ipynb", "-f", "double", "-p", "x=3,4", "--json")
    assert swept.returncode == 0, swept.stderr
    sweep_runs = cli(tmp_path, "carol", "runs", "--json", "--limit", "10")
    actors = [run["actor"] for run in json.loads(sweep_runs.stdout)["runs"]]
    assert sorted(actors) == ["ana", "dana", "dana"]

    audit = cli(tmp_path, "carol", "audit", "double", "--json")
    assert audit.returncode == 0, audit.stderr
    entries = json.loads(audit.stdout)["entries"]
    # newest first: dana's two sweep runs, bob's alias move, ana's run
    assert [(e["kind"], e["actor"]) for e in entries] == [
        ("run", "dana"),
        ("run", "dana"),
        ("alias", "bob"),
        ("run", "ana"),
    ]
    text = cli(tmp_path, "carol", "audit", "double").stdout.splitlines()
    assert "dana" in text[0]
    assert "bob" in text[2]
    assert "alias" in text[2]
    assert "ana" in text[3]
    missing = cli(tmp_path, "carol", "audit", "nothing")
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: no function or deployment named 'nothing'")


class GraceIdentity(IdentityProvider):  # type: ignore[misc]
    """Everyone who presents the server's token is ``grace`` (a real identity provider)."""

    def get_user(self, handler: Any) -> Any:
        user = super().get_user(handler)

        async def named() -> User | None:
            found = await user if asyncio.iscoroutine(user) else user
            return None if found is None else User(username="grace", name="Grace")

        return named()


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_mlops": True},
            "identity_provider_class": GraceIdentity,
        },
        "MLOpsExtension": {"supervise_interval": 0.5},
    }


async def test_the_server_records_the_jupyter_user(jp_fetch: Any) -> None:
    async def api(
        method: str, *parts: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "params": params}
        if body is not None or method in ("POST", "PUT"):
            kwargs["body"] = json.dumps(body) if body is not None else b""
        response: HTTPResponse = await jp_fetch("mlops", "api", *parts, **kwargs)
        return response.code, json.loads(response.body)

    status, run = await api("POST", "runs", body={"path": "nb.ipynb", "function": "double"})
    assert status == 202, run
    assert run["actor"] == "grace"
    deadline = time.monotonic() + 120
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        _, run = await api("GET", "runs", run["id"])
    assert run["status"] == "succeeded", run
    status, moved = await api(
        "PUT", "functions", "double", "aliases", "staging", body={"version": run["version"]}
    )
    assert status == 200, moved
    _, versions = await api("GET", "functions", "double", "versions")
    assert [(m["alias"], m["actor"]) for m in versions["history"]] == [("staging", "grace")]

    status, created = await api(
        "POST", "deployments", body={"path": "nb.ipynb", "function": "score"}
    )
    try:
        assert status == 201, created
        assert created["deployment"]["actor"] == "grace"
        status, detail = await api("GET", "deployments", "score")
        assert status == 200
        assert detail["events"][0]["actor"] == "grace"
        assert detail["events"][0]["kind"] == "deployed"
    finally:
        await api("POST", "deployments", "score", "stop")
    status, audit = await api("GET", "deployments", "score", "audit")
    assert status == 200, audit
    kinds = [(e["kind"], e["actor"]) for e in audit["entries"]]
    assert ("deployment:deployed", "grace") in kinds
    assert ("run", "grace") in kinds  # the function's run that its values came from
    status, audit = await api("GET", "functions", "double", "audit")
    assert status == 200
    assert [(e["kind"], e["actor"]) for e in audit["entries"]][:2] == [
        ("alias", "grace"),
        ("run", "grace"),
    ]
    status, missing = await api("GET", "functions", "nobody", "audit")
    assert status == 404, missing
    status, bad = await api("GET", "functions", "double", "audit", params={"limit": "0"})
    assert status == 400, bad

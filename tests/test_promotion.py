"""promote and events on real kernels, a real SQLite store and real serving processes.

Given a trained champion behind ``production`` and a deployment of ``predict`` following it,
when a retrained run of ``train`` (same code, other parameters) passes the gate, then the
alias moves to that run and the deployment serves the new run's values with no restart of
the notebook; a challenger that fails the gate moves nothing and the CLI exits 1 naming the
clause; ``events`` shows gate → promote → redeploy with ids.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MLOpsAPI, make_notebook
from test_deploy import FAST, call

from jupyter_mlops.cli import main as cli
from jupyter_mlops.errors import MLOpsError
from jupyter_mlops.loop.gate import GateError
from jupyter_mlops.loop.promotion import promote
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

CHURN = make_notebook(
    ("w: float = 2.0\nx: float = 1.0\nfail: bool = False", "parameters"),
    (
        "assert not fail, 'asked to fail'\nweight = w\naccuracy = 0.5 + w / 100",
        ["mlops:fn:train", "mlops:metrics"],
    ),
    ("score = weight * x", "mlops:fn:predict"),
)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MLOps]:
    (tmp_path / "churn.ipynb").write_text(json.dumps(CHURN), encoding="utf-8")
    service = MLOps(root_dir=str(tmp_path))
    try:
        yield service
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


def test_a_passing_challenger_moves_the_alias_and_the_follower_serves_its_run(
    service: MLOps,
) -> None:
    champion = service.run("churn.ipynb", parameters={"w": 2.0}, function="train")
    first = promote(service, "churn.ipynb", "train", to="production")
    assert (first.passed, first.moved, first.challenger) == (True, True, champion.id)
    assert service.store.alias_target("train", "production") == (champion.version, champion.id)
    deployment, token = service.deployments.deploy(
        "churn.ipynb", "predict", name="churn-score", alias="production", options=FAST
    )
    assert call(deployment.url, {"x": 1.0}, token) == (200, {"score": 2.0})
    challenger = service.run("churn.ipynb", parameters={"w": 3.0}, function="train")
    assert challenger.version == champion.version  # same code: only the run tells them apart
    result = promote(
        service, "churn.ipynb", "train", to="production", gate="accuracy >= production + 0.005"
    )
    assert result.passed
    assert result.moved
    assert result.champion == champion.id
    assert result.challenger == challenger.id
    assert [clause["right"] for clause in result.clauses] == [pytest.approx(0.525)]
    assert result.followers == [
        {
            "deployment": "churn-score",
            "version": deployment.version,
            "run": challenger.id,
            "ok": True,
            "error": None,
        }
    ]
    assert call(deployment.url, {"x": 1.0}, token) == (200, {"score": 3.0})
    assert service.deployments.get("churn-score").from_run == challenger.id
    kinds = [event.kind for event in service.store.events.timeline("train")]
    assert kinds[-3:] == ["gate", "promote", "redeploy"]
    redeploys = [e for e in service.store.events.timeline("churn-score") if e.kind == "redeploy"]
    assert redeploys[-1].refs["run_id"] == challenger.id


def test_a_failing_gate_moves_nothing_and_names_the_clause(
    service: MLOps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    champion = service.run("churn.ipynb", parameters={"w": 5.0}, function="train")
    promote(service, "churn.ipynb", "train", to="production")
    worse = service.run("churn.ipynb", parameters={"w": 1.0}, function="train")
    code = cli(
        [
            "--root",
            str(tmp_path),
            "promote",
            "churn.ipynb",
            "--function",
            "train",
            "--to",
            "production",
            "--gate",
            "accuracy >= production - 0.01",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "accuracy 0.51 >= 0.54 FAILED" in out
    assert "not promoted" in out
    assert service.store.alias_target("train", "production") == (champion.version, champion.id)
    gate = service.store.events.timeline("train")[-1]
    assert (gate.kind, gate.refs["run_id"], gate.refs["passed"]) == ("gate", worse.id, False)
    # events names each step with its ids, in order
    assert cli(["--root", str(tmp_path), "events", "train"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ["gate", "promote", "gate"]
    assert f"run_id={worse.id[:12]}" in lines[-1]


def test_promote_refuses_what_it_cannot_judge(service: MLOps) -> None:
    with pytest.raises(GateError, match="expected METRIC OP"):
        promote(service, "churn.ipynb", "train", to="production", gate="accuracy >>= 1")
    with pytest.raises(MLOpsError, match="no succeeded run produced"):
        promote(service, "churn.ipynb", "train", to="production")
    failed = service.run("churn.ipynb", parameters={"fail": True}, function="train")
    assert failed.status == "failed"
    with pytest.raises(MLOpsError, match="is failed, not succeeded"):
        promote(service, "churn.ipynb", "train", to="production", run=failed.id)
    with pytest.raises(MLOpsError, match="not set on 'predict' or 'train'"):
        service.deployments.deploy("churn.ipynb", "predict", alias="production", options=FAST)


# -- REST, on a real Jupyter server ----------------------------------------------------------


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "churn.ipynb").write_text(json.dumps(CHURN), encoding="utf-8")
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


async def test_rest_promotes_lists_events_and_keeps_policies(
    mlops_api: MLOpsAPI, jp_root_dir: Path
) -> None:
    runs = []
    for w in (2.0, 4.0):
        code, run = await mlops_api(
            "POST",
            "runs",
            body={"path": "churn.ipynb", "function": "train", "parameters": {"w": str(w)}},
        )
        assert code in (200, 201, 202), run
        deadline = time.monotonic() + 120
        while run["status"] in ("queued", "running") and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            _, run = await mlops_api("GET", "runs", run["id"])
        assert run["status"] == "succeeded", run
        runs.append(run["id"])
    promote_body = {"notebook": "churn.ipynb", "to": "production", "run": runs[0]}
    code, first = await mlops_api("POST", "functions", "train", "promote", body=promote_body)
    assert (code, first["passed"], first["moved"]) == (200, True, True)
    gated = {"notebook": "churn.ipynb", "to": "production", "gate": "accuracy > production"}
    code, second = await mlops_api("POST", "functions", "train", "promote", body=gated)
    assert (code, second["passed"], second["challenger"], second["champion"]) == (
        200, True, runs[1], runs[0],
    )  # fmt: skip
    code, events = await mlops_api("GET", "events", name="train")
    assert code == 200
    assert [e["kind"] for e in events["events"]] == ["gate", "promote", "gate", "promote"]
    assert events["events"][-1]["refs"]["run_id"] == runs[1]
    # the user's mistakes are 400/404 naming the field, never 500
    bad_gate = {**gated, "gate": "accuracy >>= 1"}
    code, error = await mlops_api("POST", "functions", "train", "promote", body=bad_gate)
    assert code == 400
    assert "expected METRIC OP" in error["message"]
    code, error = await mlops_api("POST", "functions", "train", "promote", body={"to": "x"})
    assert code == 400
    assert "notebook" in error["message"]
    code, error = await mlops_api("GET", "events", limit="0")
    assert code == 400
    code, error = await mlops_api("GET", "deployments", "nope", "policy")
    assert code == 404
    code, error = await mlops_api(
        "PUT", "deployments", "nope", "policy", body={"notebook": "churn.ipynb"}
    )
    assert code == 404
    code, listed = await mlops_api("GET", "policies")
    assert (code, listed) == (200, {"policies": []})

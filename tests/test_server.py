"""The REST API on a real Jupyter server (pytest-jupyter): every route, its refusals, its runs.

The server's root is a temporary folder holding one small notebook; runs execute for real
under the `mlops` engine and land in a real SQLite store under that root.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from conftest import REPO, make_notebook
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPResponse

from jupyter_mlops.extension.handlers import ROUTES

pytestmark = pytest.mark.kernel

NOTEBOOK = make_notebook(
    ("x: int = 2  # the input\npause: float = 0.0", "parameters"),
    ("import time", "mlops:setup"),
    ("time.sleep(pause)\ndoubled = x * 2\nprint('doubled', doubled)", "mlops:fn:double"),
    ("score = float(doubled + 1)", ["mlops:fn:score", "mlops:metrics"]),
)
METHODS = ("get", "post", "put", "patch", "delete")


class RecordingAuthorizer(Authorizer):  # type: ignore[misc]
    """Allows everything but the actions in ``denied``; remembers what it was asked."""

    denied: ClassVar[set[str]] = set()
    asked: ClassVar[list[tuple[str, str]]] = []

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        self.asked.append((action, resource))
        return action not in self.denied


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (jp_root_dir / "broken.ipynb").write_text("{not json", encoding="utf-8")
    RecordingAuthorizer.denied = set()
    RecordingAuthorizer.asked = []
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_mlops": True},
            "authorizer_class": RecordingAuthorizer,
        },
        "MLOpsExtension": {"max_body_bytes": 200_000, "supervise_interval": 0.5},
    }


@pytest.fixture
def api(jp_fetch: Any) -> Any:
    """``await api(METHOD, "runs", body={...}, params={...})`` → (status, JSON or bytes)."""

    async def call(
        method: str, *parts: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        elif method in ("POST", "PUT"):
            kwargs["body"] = b""
        response: HTTPResponse = await jp_fetch("mlops", "api", *parts, params=params, **kwargs)
        return response.code, _decoded(response)

    return call


def _decoded(response: HTTPResponse) -> Any:
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return json.loads(response.body)
    return response.body


async def _finished(api: Any, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, run = await api("GET", "runs", run_id)
        assert status == 200
        if run["status"] not in ("queued", "running"):
            return dict(run)
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s")


async def _run(api: Any, **body: Any) -> dict[str, Any]:
    status, run = await api("POST", "runs", body={"path": "nb.ipynb", **body})
    assert status == 202, run
    assert run["status"] == "queued"
    return await _finished(api, run["id"])


# The routes and their documentation


def _openapi_path(pattern: str) -> str:
    relative = pattern.removeprefix("mlops/api")
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", relative)


def test_every_route_is_in_the_openapi_file_with_its_methods_and_nothing_else() -> None:
    spec = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    documented = {
        path: {method for method in item if method in METHODS}
        for path, item in spec["paths"].items()
    }
    served = {
        _openapi_path(pattern): {method for method in METHODS if method in vars(handler)}
        for pattern, handler in ROUTES
    }
    assert served == documented


async def test_every_route_refuses_a_request_without_authentication(
    http_server_client: Any, jp_base_url: str
) -> None:
    for pattern, handler in ROUTES:
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", pattern)
        for method in METHODS:
            if method not in vars(handler):
                continue
            body = b"{}" if method in ("post", "put", "patch") else None
            response = await http_server_client.fetch(
                f"{jp_base_url}{path}",
                method=method.upper(),
                body=body,
                raise_error=False,
            )
            assert response.code == 403, (method, path, response.code)


async def test_running_code_needs_the_execute_permission(api: Any) -> None:
    RecordingAuthorizer.denied = {"execute"}
    assert (await api("GET", "runs"))[0] == 200
    assert (await api("POST", "parse", body={"path": "nb.ipynb"}))[0] == 200
    assert (await api("POST", "runs", body={"path": "nb.ipynb"}))[0] == 403
    status, _ = await api("POST", "sweeps", body={"path": "nb.ipynb", "space": {"x": ["1"]}})
    assert status == 403
    assert (await api("POST", "runs", "abc", "cancel"))[0] == 403
    assert ("execute", "mlops") in RecordingAuthorizer.asked
    status, page = await api("GET", "runs")
    assert page["runs"] == []  # nothing was recorded by the refused requests


async def test_a_cookie_session_without_the_xsrf_token_is_refused(
    jp_serverapp: Any, http_server_client: Any, jp_base_url: str
) -> None:
    client = http_server_client
    base = jp_base_url
    login_page = await client.fetch(f"{base}login", raise_error=False)
    cookies = _cookies(login_page)
    xsrf = cookies["_xsrf"]
    login = await client.fetch(
        f"{base}login",
        method="POST",
        body=f"_xsrf={xsrf}&password={jp_serverapp.identity_provider.token}",
        headers={"Cookie": _cookie_header(cookies)},
        follow_redirects=False,
        raise_error=False,
    )
    cookies.update(_cookies(login))
    assert any(name.startswith("username-") for name in cookies), login.headers
    session = {"Cookie": _cookie_header(cookies)}

    listed = await client.fetch(f"{base}mlops/api/runs", headers=session, raise_error=False)
    assert listed.code == 200  # a GET needs no XSRF token
    body = json.dumps({"path": "nb.ipynb"})
    refused = await client.fetch(
        f"{base}mlops/api/parse", method="POST", body=body, headers=session, raise_error=False
    )
    assert refused.code == 403
    accepted = await client.fetch(
        f"{base}mlops/api/parse",
        method="POST",
        body=body,
        headers={**session, "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert accepted.code == 200


def _cookies(response: HTTPResponse) -> dict[str, str]:
    found = {}
    for header in response.headers.get_list("Set-Cookie"):
        name, _, rest = header.partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


# Notebooks: parse and check


async def test_info_names_the_version_engine_and_limit(api: Any) -> None:
    status, info = await api("GET", "info")
    assert status == 200
    assert info["engine"] == "mlops"
    assert info["max_body_bytes"] == 200_000
    assert "kfp" in info["targets"]


async def test_parse_reads_the_file_or_the_posted_unsaved_content(api: Any) -> None:
    status, plan = await api("POST", "parse", body={"path": "nb.ipynb"})
    assert status == 200
    assert [function["name"] for function in plan["functions"]] == ["double", "score"]
    assert sorted(plan["functions"][0]["parameters"]) == ["pause", "x"]
    roles = {cell["index"]: (cell["role"], cell["function"]) for cell in plan["cells"]}
    assert roles[0] == ("parameters", None)
    assert roles[2] == ("function", "double")

    edited = make_notebook(("y: int = 1", "parameters"), ("z = y + 1", "mlops:fn:fresh"))
    status, plan = await api(
        "POST", "parse", body={"path": "not_saved_yet.ipynb", "content": edited}
    )
    assert status == 200
    assert [function["name"] for function in plan["functions"]] == ["fresh"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({}, "'path' is required"),
        ({"path": 3}, "'path' must be a string, not an integer"),
        ({"path": "nb.ipynb", "colour": "red"}, "unknown field 'colour'"),
        ({"path": "nb.ipynb", "content": "text"}, "'content' must be an object"),
        ({"path": "broken.ipynb"}, "broken.ipynb"),
        ({"path": "nb.ipynb", "content": {"cells": "no"}}, "nb.ipynb"),
        ({"path": "../outside.ipynb"}, "outside"),
        ({"path": "/etc/passwd"}, "/etc/passwd"),
        ({"path": "a/../../escape.ipynb"}, "escape"),
    ],
)
async def test_a_bad_body_path_or_notebook_is_a_400_that_says_what(
    api: Any, body: Any, message: str
) -> None:
    status, error = await api("POST", "parse", body=body)
    assert status == 400, error
    assert message in error["message"]
    assert "Traceback" not in json.dumps(error)


async def test_a_notebook_that_does_not_exist_is_a_404(api: Any) -> None:
    status, error = await api("POST", "parse", body={"path": "missing.ipynb"})
    assert status == 404
    assert "missing.ipynb" in error["message"]


async def test_an_oversized_body_is_refused_with_413(api: Any) -> None:
    huge = {"path": "nb.ipynb", "content": {"padding": "x" * 300_000}}
    status, error = await api("POST", "parse", body=huge)
    assert status == 413
    assert "limit is 200000" in error["message"]


async def test_check_types_values_as_a_run_would_and_names_the_wrong_one(api: Any) -> None:
    status, checked = await api("POST", "check", body={"path": "nb.ipynb", "parameters": {}})
    assert (status, checked["parameters"]) == (200, {"x": 2, "pause": 0.0})
    status, error = await api(
        "POST", "check", body={"path": "nb.ipynb", "parameters": {"x": "abc"}}
    )
    assert status == 400
    assert error["parameter"] == "x"
    assert "abc" in error["message"]
    status, error = await api(
        "POST", "check", body={"path": "nb.ipynb", "parameters": {"nope": "1"}}
    )
    assert (status, error["parameter"]) == (400, "nope")


# Runs


async def test_a_run_is_queued_at_once_and_succeeds_with_metrics_and_artifacts(api: Any) -> None:
    run = await _run(api, parameters={"x": "5"})
    assert run["status"] == "succeeded", run
    assert run["parameters"] == {"x": 5, "pause": 0.0}
    assert run["metrics"] == {"score": 11.0}

    status, notebook = await api("GET", "runs", run["id"], "notebook")
    assert status == 200
    document = json.loads(notebook)
    assert any("doubled 10" in json.dumps(cell.get("outputs", [])) for cell in document["cells"])

    status, page = await api("GET", "runs", run["id"], "notebook", params={"format": "html"})
    assert status == 200
    assert b"doubled 10" in page

    artifact = next(item for item in run["artifacts"] if item["kind"] == "notebook")
    status, data = await api("GET", "artifacts", artifact["id"])
    assert status == 200
    assert hashlib.sha256(data).hexdigest() == artifact["sha256"]


async def test_the_html_output_is_served_sandboxed(jp_fetch: Any, api: Any) -> None:
    run = await _run(api)
    response = await jp_fetch(
        "mlops", "api", "runs", run["id"], "notebook", params={"format": "html"}
    )
    assert response.headers["Content-Type"].startswith("text/html")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    response = await jp_fetch("mlops", "api", "runs", run["id"], "notebook")
    assert response.headers["Content-Type"] == "application/x-ipynb+json"


async def test_one_function_runs_from_posted_content(api: Any) -> None:
    edited = make_notebook(
        ("x: int = 2", "parameters"),
        ("doubled = x * 3", "mlops:fn:double"),  # an unsaved edit: triples
        ("score = float(doubled)", ["mlops:fn:score", "mlops:metrics"]),
    )
    run = await _run(api, content=edited, function="score", parameters={"x": "4"})
    assert run["status"] == "succeeded", run
    assert run["function"] == "score"
    assert run["metrics"] == {"score": 12.0}


async def test_runs_are_listed_filtered_and_paged_with_a_cursor(api: Any) -> None:
    first = await _run(api, parameters={"x": "1"})
    second = await _run(api, parameters={"x": "2"})
    status, page = await api("GET", "runs", params={"limit": "1"})
    assert status == 200
    assert [run["id"] for run in page["runs"]] == [second["id"]]
    status, rest = await api("GET", "runs", params={"limit": "1", "cursor": page["next_cursor"]})
    assert [run["id"] for run in rest["runs"]] == [first["id"]]

    status, best = await api("GET", "runs", params={"order_by": "metric:score"})
    assert [run["id"] for run in best["runs"]] == [second["id"], first["id"]]
    status, worst = await api("GET", "runs", params={"order_by": "metric:score", "order": "asc"})
    assert [run["id"] for run in worst["runs"]] == [first["id"], second["id"]]
    status, page = await api("GET", "runs", params={"status": "failed"})
    assert (status, page["runs"]) == (200, [])
    status, page = await api("GET", "runs", params={"notebook": "nb.ipynb", "function": "x"})
    assert (status, page["runs"]) == (200, [])
    status, page = await api("GET", "runs", params={"executor": "kfp"})
    assert (status, page["runs"]) == (200, [])
    status, page = await api("GET", "runs", params={"executor": "local"})
    assert {run["id"] for run in page["runs"]} == {first["id"], second["id"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, None),
        ({"status": "bogus"}, None),
        ({"order": "sideways"}, "order"),
        ({"cursor": "garbage"}, None),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_bad_query_is_a_400(api: Any, params: dict[str, str], field: str | None) -> None:
    status, error = await api("GET", "runs", params=params)
    assert status == 400, error
    assert error.get("field") == field


async def test_the_cache_buster_jupyterlab_appends_is_not_an_unknown_argument(
    jp_fetch: Any, api: Any
) -> None:
    response = await jp_fetch("mlops", "api", "runs", params={"1796218925538": ""})
    assert response.code == 200
    status, error = await api("GET", "runs", params={"1796218925538": "x"})
    assert (status, error["field"]) == (400, "1796218925538")


async def test_a_bad_run_request_records_nothing(api: Any) -> None:
    for body in (
        {"path": "nb.ipynb", "parameters": {"x": "abc"}},
        {"path": "nb.ipynb", "parameters": {"x": 3}},
        {"path": "nb.ipynb", "function": "nope"},
        {"path": "nb.ipynb", "timeout": -1},
        {"path": "../nb.ipynb"},
        {"path": "nb.ipynb", "content": make_notebook("x = 1", kernel="not-installed")},
    ):
        status, error = await api("POST", "runs", body=body)
        assert status == 400, (body, error)
    status, page = await api("GET", "runs")
    assert page["runs"] == []


async def test_a_kernel_that_is_not_installed_is_named_before_anything_runs(api: Any) -> None:
    content = make_notebook(("x: int = 1", "parameters"), kernel="not-installed")
    status, error = await api("POST", "runs", body={"path": "nb.ipynb", "content": content})
    assert status == 400
    assert "'not-installed' is not installed" in error["message"]
    assert "python3" in error["hint"]


async def test_a_run_takes_its_engine_and_kernel_from_the_body(api: Any) -> None:
    content = make_notebook(("x: int = 1", "parameters"), kernel="not-installed")
    run = await _run(api, content=content, kernel="python3", engine="mlops")
    assert run["status"] == "succeeded", run["error"]
    for wrong, field in (({"engine": "fast"}, "engine"), ({"kernel": "nope"}, "'nope'")):
        status, error = await api("POST", "runs", body={"path": "nb.ipynb", **wrong})
        assert status == 400
        assert field in error["message"]


async def test_tokens_and_tracebacks_stay_out_of_responses_and_logs(
    api: Any, jp_serverapp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = jp_serverapp.identity_provider.token
    for body in ("{bad", {"path": "../x.ipynb"}, {"path": "nb.ipynb", "parameters": {"x": "q"}}):
        status, error = await api("POST", "runs", body=body)
        assert status == 400
        assert token not in json.dumps(error)
        assert "Traceback" not in json.dumps(error)
    assert token not in caplog.text
    assert "Traceback" not in caplog.text


async def test_unknown_ids_are_404(api: Any) -> None:
    assert (await api("GET", "runs", "0123456789abcdef"))[0] == 404
    assert (await api("POST", "runs", "0123456789abcdef", "cancel"))[0] == 404
    assert (await api("GET", "runs", "0123456789abcdef", "notebook"))[0] == 404
    assert (await api("GET", "sweeps", "0123456789abcdef"))[0] == 404
    assert (await api("GET", "artifacts", "0123456789abcdef"))[0] == 404


async def test_cancel_stops_a_running_run_and_a_finished_one_is_a_409(api: Any) -> None:
    status, run = await api(
        "POST", "runs", body={"path": "nb.ipynb", "parameters": {"pause": "30"}}
    )
    assert status == 202
    deadline = time.monotonic() + 30
    while run["status"] != "running" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        _, run = await api("GET", "runs", run["id"])
    assert run["status"] == "running"
    status, cancelled = await api("POST", "runs", run["id"], "cancel")
    assert status == 200, cancelled
    finished = await _finished(api, run["id"], timeout=20)
    assert finished["status"] == "cancelled"
    status, error = await api("POST", "runs", run["id"], "cancel")
    assert status == 409
    assert "already cancelled" in error["message"]


async def test_long_work_does_not_block_the_server(api: Any) -> None:
    status, run = await api("POST", "runs", body={"path": "nb.ipynb", "parameters": {"pause": "3"}})
    assert status == 202
    await asyncio.sleep(0.5)
    started = time.monotonic()
    assert (await api("GET", "info"))[0] == 200
    assert time.monotonic() - started < 0.5
    assert (await _finished(api, run["id"]))["status"] == "succeeded"


async def test_the_same_idempotency_key_gives_the_same_run(api: Any) -> None:
    body = {"path": "nb.ipynb", "idempotency_key": "click-1"}
    _, first = await api("POST", "runs", body=body)
    await _finished(api, first["id"])
    status, again = await api("POST", "runs", body=body)
    assert (status, again["id"]) == (202, first["id"])


# Sweeps


async def test_a_sweep_queues_every_point_and_marks_the_best(api: Any) -> None:
    status, sweep = await api(
        "POST",
        "sweeps",
        body={
            "path": "nb.ipynb",
            "space": {"x": ["1", "3", "2"]},
            "parallel": 2,
            "select": "max:score",
        },
    )
    assert status == 202, sweep
    assert len(sweep["runs"]) == 3
    runs = [await _finished(api, run_id) for run_id in sweep["runs"]]
    assert [run["status"] for run in runs] == ["succeeded"] * 3
    deadline = time.monotonic() + 10
    while sweep["status"] in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        _, sweep = await api("GET", "sweeps", sweep["id"])
    best = next(run for run in runs if run["parameters"]["x"] == 3)
    assert sweep["best_run_id"] == best["id"]
    status, page = await api("GET", "runs", params={"sweep": sweep["id"]})
    assert len(page["runs"]) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"space": {"x": ["1", "abc"]}},
        {"space": {"x": []}},
        {"space": {"x": [1, 2]}},
        {"space": {"x": ["1"]}, "parallel": 0},
        {"space": {"x": ["1"]}, "select": "best"},
        {"space": "x=1,2"},
    ],
)
async def test_a_bad_sweep_is_a_400_and_runs_nothing(api: Any, body: dict[str, Any]) -> None:
    status, error = await api("POST", "sweeps", body={"path": "nb.ipynb", **body})
    assert status == 400, error
    status, page = await api("GET", "runs")
    assert page["runs"] == []


# Versions


async def test_versions_diff_and_alias_moves(api: Any) -> None:
    first = await _run(api, function="double")
    edited = json.loads(json.dumps(NOTEBOOK))
    edited["cells"][2]["source"] = "time.sleep(pause)\ndoubled = x + x\nprint('twice', doubled)"
    second = await _run(api, function="double", content=edited)
    assert first["version"] != second["version"]

    status, listed = await api("GET", "functions", "double", "versions")
    assert status == 200
    assert [version["version"] for version in listed["versions"]] == [
        second["version"],
        first["version"],
    ]
    assert all(version["run_count"] == 1 for version in listed["versions"])

    status, diff = await api(
        "GET",
        "functions",
        "double",
        "diff",
        params={"a": first["version"][:12], "b": second["version"][:12]},
    )
    assert status == 200
    lines = diff["diff"].splitlines()
    assert "-doubled = x * 2" in lines
    assert "+doubled = x + x" in lines
    # the last lines have no newline: each still on a line of its own
    assert "-print('doubled', doubled)" in lines
    assert "+print('twice', doubled)" in lines

    status, moved = await api(
        "PUT", "functions", "double", "aliases", "production", body={"version": first["version"]}
    )
    assert (status, moved["aliases"]) == (200, ["production"])
    status, listed = await api("GET", "functions", "double", "versions")
    assert listed["history"][0]["alias"] == "production"

    status, error = await api(
        "PUT", "functions", "double", "aliases", "production", body={"version": "ffff"}
    )
    assert status == 404, error
    status, error = await api("PUT", "functions", "double", "aliases", "production", body={})
    assert (status, error["field"]) == (400, "version")
    status, error = await api("GET", "functions", "double", "diff", params={"a": "x"})
    assert (status, error["field"]) == (400, "b")
    status, error = await api("GET", "functions", "double", "diff", params={"a": "", "b": ""})
    assert (status, error["field"]) == (400, "a")
    # A function nobody ran yet has no versions: an empty list, not an error.
    status, listed = await api("GET", "functions", "nobody", "versions")
    assert (status, listed) == (200, {"versions": [], "history": []})


# Deployments


async def _stop_all(api: Any) -> None:
    _status, listing = await api("GET", "deployments")
    for deployment in listing["deployments"]:
        await api("POST", "deployments", deployment["name"], "stop")


async def test_deploy_from_posted_content_invoke_watch_and_stop(api: Any) -> None:
    run = await _run(api)
    assert run["status"] == "succeeded"
    content = json.loads(json.dumps(NOTEBOOK))
    try:
        status, created = await api(
            "POST",
            "deployments",
            body={"path": "nb.ipynb", "function": "score", "content": content},
        )
        assert status == 201, created
        token, deployment = created["token"], created["deployment"]
        assert deployment["name"] == "score"
        assert deployment["status"] == "running"
        assert deployment["url"].startswith("http://127.0.0.1:")
        assert deployment["fields"] == []
        assert deployment["outputs"] == ["score"]
        assert token
        assert token not in json.dumps(deployment)

        status, answer = await api(
            "POST", "deployments", "score", "invoke", body={"token": token, "payload": {}}
        )
        assert status == 200
        assert answer["status"] == 200
        assert answer["body"] == {"score": 5.0}
        status, answer = await api(
            "POST", "deployments", "score", "invoke", body={"token": "nope", "payload": {}}
        )
        assert status == 200
        assert answer["status"] == 401

        status, listing = await api("GET", "deployments")
        assert [d["name"] for d in listing["deployments"]] == ["score"]
        status, detail = await api("GET", "deployments", "score", params={"samples": "5"})
        assert status == 200
        assert detail["events"][0]["kind"] == "deployed"
        status, logs = await api("GET", "deployments", "score", "logs", params={"lines": "50"})
        assert status == 200
        assert any("serving score" in line for line in logs["lines"])

        status, again = await api(
            "POST", "deployments", body={"path": "nb.ipynb", "function": "score"}
        )
        assert status == 201
        assert again["token"] is None
        assert again["deployment"]["port"] == deployment["port"]
        # another function under the name: refused unless replace (then a new token)
        other = {"path": "nb.ipynb", "function": "double", "name": "score"}
        status, refused = await api("POST", "deployments", body=other)
        assert status == 409, refused
        assert "replace" in refused["message"] + str(refused.get("hint"))
        status, replaced = await api("POST", "deployments", body={**other, "replace": True})
        assert status == 201, replaced
        assert replaced["token"] not in (None, token)
        assert replaced["deployment"]["function"] == "double"
        assert replaced["deployment"]["port"] == deployment["port"]

        status, stopped = await api("POST", "deployments", "score", "stop")
        assert status == 200
        assert stopped["deployment"]["status"] == "stopped"
        status, refused = await api(
            "POST", "deployments", "score", "invoke", body={"token": token, "payload": {}}
        )
        assert status == 409
        assert "stopped" in refused["message"]
        status, started = await api("POST", "deployments", "score", "start")
        assert status == 200
        assert started["deployment"]["port"] == deployment["port"]
    finally:
        await _stop_all(api)


@pytest.mark.parametrize(
    ("method", "parts", "body", "expected"),
    [
        ("POST", ("deployments",), {"path": "nb.ipynb"}, 400),
        ("POST", ("deployments",), {"path": "nb.ipynb", "function": "score", "port": 70000}, 400),
        ("POST", ("deployments",), {"path": "nb.ipynb", "function": "nope"}, 400),
        ("POST", ("deployments",), {"path": "nb.ipynb", "function": "score", "name": "A_B"}, 400),
        ("POST", ("deployments",), {"path": "gone.ipynb", "function": "score"}, 404),
        ("POST", ("deployments",), {"path": "nb.ipynb", "function": "score", "extra": 1}, 400),
        ("GET", ("deployments", "missing"), None, 404),
        ("GET", ("deployments", "missing", "logs"), None, 404),
        ("POST", ("deployments", "missing", "stop"), {}, 404),
        ("POST", ("deployments", "missing", "rollback"), {}, 404),
        ("POST", ("deployments", "missing", "invoke"), {"token": "t", "payload": {}}, 404),
        ("POST", ("deployments", "missing", "invoke"), {"token": "t", "payload": 3}, 400),
        ("GET", ("deployments", "Bad Name!"), None, 400),
    ],
)
async def test_bad_deployment_requests_are_4xx_that_say_what(
    api: Any, method: str, parts: tuple[str, ...], body: Any, expected: int
) -> None:
    status, answer = await api(method, *parts, body=body)
    assert status == expected, answer
    assert answer["message"]
    status, listing = await api("GET", "deployments")
    assert listing["deployments"] == []


async def test_deploying_a_function_that_never_ran_is_a_400_that_says_run_it(api: Any) -> None:
    status, answer = await api(
        "POST", "deployments", body={"path": "nb.ipynb", "function": "score"}
    )
    assert status == 400
    assert "no succeeded run" in answer["message"]
    assert "double" in answer.get("hint", "")


async def test_deploying_needs_the_execute_permission(api: Any) -> None:
    RecordingAuthorizer.denied = {"execute"}
    status, _ = await api("POST", "deployments", body={"path": "nb.ipynb", "function": "score"})
    assert status == 403
    status, listing = await api("GET", "deployments")
    assert status == 200
    assert listing["deployments"] == []


async def test_the_server_restores_a_deployment_whose_processes_were_killed(api: Any) -> None:
    import psutil

    await _run(api)
    try:
        status, created = await api(
            "POST", "deployments", body={"path": "nb.ipynb", "function": "score"}
        )
        assert status == 201, created
        first = created["deployment"]
        keeper = psutil.Process(
            (await api("GET", "deployments", "score"))[1]["deployment"]["keeper_pid"]
        )
        serving = psutil.Process(first["pid"])
        keeper.kill()  # as a reboot would
        serving.kill()
        keeper.wait(10)
        serving.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, detail = await api("GET", "deployments", "score")
            now = detail["deployment"]
            if now["status"] == "running" and now["pid"] not in (None, first["pid"]):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"not restored: {detail}")
        assert now["port"] == first["port"]
        assert "restored" in [event["kind"] for event in detail["events"]]
        status, answer = await api(
            "POST", "deployments", "score", "invoke",
            body={"token": created["token"], "payload": {}},
        )  # fmt: skip
        assert answer["status"] == 200
        assert answer["body"] == {"score": 5.0}
    finally:
        await _stop_all(api)


async def test_drift_of_a_deployment_checks_its_query_and_names_what_is_missing(
    api: Any,
) -> None:
    # The report itself is tested end to end in test_drift_loop.py (the CLI prints the same).
    status, body = await api("GET", "deployments", "nope", "drift")
    assert status == 404
    assert "nope" in body["message"]
    status, body = await api("GET", "deployments", "nope", "drift", params={"window": "5"})
    assert status == 400
    assert body["field"] == "window"
    status, body = await api("GET", "deployments", "nope", "drift", params={"mode": "strict"})
    assert status == 400
    assert "calibrated" in body["message"]


async def test_executors_lists_the_registered_ones_and_the_default(api: Any) -> None:
    status, body = await api("GET", "executors")
    assert status == 200
    assert body["default"] == "local"
    by_name = {executor["name"]: executor for executor in body["executors"]}
    assert {"local", "dask"} <= set(by_name)
    assert by_name["local"]["available"] is True
    assert by_name["dask"]["available"] is True  # CI installs every extra
    assert by_name["dask"]["dashboard_url"] is None  # no cluster started yet
    assert "Dask" in by_name["dask"]["description"]


async def test_executors_report_the_warm_zygotes_runs_fork_from_and_their_memory(
    api: Any,
) -> None:
    content = make_notebook(
        ("x: int = 2", "parameters"),
        ("import numpy", "mlops:setup"),
        ("doubled = int(numpy.int64(x) * 2)", "mlops:fn:double"),
    )
    status, run = await api("POST", "runs", body={"path": "nb.ipynb", "content": content})
    assert status == 202, run
    assert (await _finished(api, run["id"]))["status"] == "succeeded"
    status, body = await api("GET", "executors")
    assert status == 200
    warm = [zygote for zygote in body["zygotes"] if "numpy" in zygote["modules"]]
    assert len(warm) == 1
    assert warm[0]["memory"] > 20 << 20
    assert warm[0]["runs"] == 0

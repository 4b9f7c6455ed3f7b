"""Kubeflow Pipelines: ``submit`` through the real CLI, the magic's grammar and the REST API,
against tests/kfp_standin.py (a stand-in KFP v2beta1 API server on 127.0.0.1 that runs each
pipeline for real with kfp.local), and runs of another executor listed apart.

The notebook's pipeline computes ``accuracy = C * 2 / 4`` in a KFP component, so the metric
recorded is the pipeline's own, read back from its Metrics artifact; ``fail=True`` makes the
component raise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook
from kfp_standin import KfpStandin

from jupyter_mlops.errors import ExecutionError, StoreError
from jupyter_mlops.execute.kfp_remote import KfpAuth, KfpError
from jupyter_mlops.service import MLOps
from jupyter_mlops.store import Store

REPO = Path(__file__).resolve().parents[1]
TOKEN = "kfp-secret-token-7f3a9c"  # must reach the stand-in, and nothing else
NOTEBOOK = make_notebook(
    ("C: float = 0.5  # strength\nfail: bool = False", "parameters"),
    ("score = C * 2\nif fail:\n    raise ValueError('asked to fail')", "mlops:fn:train"),
    ("accuracy = score / 4", "mlops:metrics"),
)
FOLLOW_LAG = 5.0  # the most a followed run's record may be behind the KFP server


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KfpStandin]:
    server = KfpStandin(tmp_path_factory.mktemp("kfp-standin"), pending_for=1.5).start()
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "train.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    return root


def _cli(root: Path, *words: str, token: str | None = TOKEN) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("KF_PIPELINES_TOKEN", None)
    if token:
        env["KF_PIPELINES_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def _files_text(root: Path) -> bytes:
    """Every byte the project folder holds: the store, its logs, work folders."""
    return b"".join(path.read_bytes() for path in root.rglob("*") if path.is_file())


def _status(root: Path, run_id: str) -> str:
    with Store.for_root(root) as store:
        return store.get_run(run_id).status


@pytest.mark.kfp
def test_submit_wait_records_the_pipeline_run_its_metrics_and_never_the_token(
    standin: KfpStandin, project: Path
) -> None:
    # Given a notebook and a KFP server (the stand-in) that wants a token
    before = len(standin.runs)
    process = _cli(
        project,
        "submit",
        "train.ipynb",
        "--host",
        standin.host,
        "-p",
        "C",
        "3",
        "--wait",
        "--json",
    )

    # While it runs, the store follows the KFP run's state within FOLLOW_LAG seconds
    seen: dict[str, float] = {}
    lags: dict[str, float] = {}
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        runs = list(standin.runs.values())[before:]
        if runs:
            remote = runs[0]["state"]
            seen.setdefault(remote, time.monotonic())
            with Store.for_root(project) as store:
                recorded = store.list_runs(executor="kfp").runs
            if recorded:
                status = recorded[0].status
                for state, expected in (("RUNNING", "running"), ("SUCCEEDED", "succeeded")):
                    if state in seen and status == expected and expected not in lags:
                        lags[expected] = time.monotonic() - seen[state]
        time.sleep(0.2)
    code, out, err = _finish(process)

    # Then it exits 0 with the run recorded as the KFP run, with the pipeline's metric
    assert code == 0, err
    run = json.loads(out)
    (remote,) = list(standin.runs.values())[before:]
    assert remote["state"] == "SUCCEEDED"
    assert run["status"] == "succeeded"
    assert run["executor"] == "kfp"
    assert run["external_id"] == remote["run_id"]
    assert run["external_url"] == f"{standin.host}/#/runs/details/{remote['run_id']}"
    assert run["metrics"] == {"accuracy": pytest.approx(3 * 2 / 4)}
    assert run["parameters"] == {"C": 3.0, "fail": False}
    assert remote["runtime_config"]["parameters"] == {"C": 3.0}
    assert remote["pipeline_version_reference"]["pipeline_id"] in standin.pipelines
    assert run["actor"]
    with Store.for_root(project) as store:
        stored = store.get_run(run["id"])
    assert (stored.status, stored.metrics) == ("succeeded", {"accuracy": 1.5})
    # ... the store followed it, at most FOLLOW_LAG behind (a state seen by the test at
    # least once while the run was in it: RUNNING lasts a few seconds in the stand-in)
    assert lags.get("running", 0) <= FOLLOW_LAG, lags
    assert "running" in lags, (lags, seen)

    # And the token reached the server, but no output, log or stored byte
    assert f"Bearer {TOKEN}" in standin.authorizations
    assert TOKEN not in out
    assert TOKEN not in err
    assert TOKEN.encode() not in _files_text(project)


@pytest.mark.kfp
def test_a_failing_pipeline_exits_1_with_the_kfp_error(standin: KfpStandin, project: Path) -> None:
    code, out, err = _finish(
        _cli(
            project, "submit", "train.ipynb", "--host", standin.host, "-p", "fail", "True", "--wait"
        )
    )
    assert code == 1, err
    assert "failed" in out
    assert "ValueError: asked to fail" in out
    assert f"kfp run: {standin.host}/#/runs/details/" in out
    with Store.for_root(project) as store:
        (run,) = store.list_runs(executor="kfp").runs
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["evalue"] == "ValueError: asked to fail"
    assert run.metrics == {}


@pytest.mark.kfp
def test_runs_executor_kfp_shows_the_live_state_after_the_submitter_left(
    standin: KfpStandin, project: Path
) -> None:
    # Given a run submitted without --wait: the submitting process is gone at once
    code, out, err = _finish(
        _cli(project, "submit", "train.ipynb", "--host", standin.host, "-p", "C", "1", "--json")
    )
    assert code == 0, err
    submitted = json.loads(out)
    assert submitted["status"] == "queued"
    assert TOKEN not in out + err

    # When `runs --executor kfp` lists it, as the run goes on on the server
    statuses = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        code, out, err = _finish(_cli(project, "runs", "--executor", "kfp", "--json"), 120)
        assert code == 0, err
        (listed,) = json.loads(out)["runs"]
        statuses.append(listed["status"])
        if listed["status"] not in ("queued", "running"):
            break

    # Then it was never taken for a run whose process died, and ends with its metrics
    assert "interrupted" not in statuses
    assert statuses[-1] == "succeeded", statuses
    assert listed["metrics"] == {"accuracy": pytest.approx(0.5)}
    remote = standin.runs[submitted["external_id"]]
    assert remote["state"] == "SUCCEEDED"


def test_an_unreachable_kfp_host_is_one_line_exit_2(project: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed once the with ends: nothing listens there
    code, out, err = _finish(
        _cli(project, "submit", "train.ipynb", "--host", f"http://127.0.0.1:{port}", "--wait"),
        120,
    )
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: cannot reach the KFP API server at http://127.0.0.1:{port}")
    assert "Traceback" not in err
    assert TOKEN not in err
    with Store.for_root(project) as store:
        assert store.list_runs(executor="kfp").runs == []


def test_submit_without_a_host_says_how_to_give_one(project: Path) -> None:
    env_host = os.environ.pop("KF_PIPELINES_ENDPOINT", None)
    try:
        code, _, err = _finish(_cli(project, "submit", "train.ipynb"), 120)
    finally:
        if env_host is not None:
            os.environ["KF_PIPELINES_ENDPOINT"] = env_host
    assert code == 2
    assert err.startswith("error: no Kubeflow Pipelines host (pass --host URL")


def test_the_kfp_executor_is_listed_available_once_a_host_is_configured(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from traitlets.config import Config

    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    listed = {e["name"]: e for e in MLOps(root_dir=str(project)).executors()["executors"]}
    assert listed["kfp"]["available"] is False
    assert "c.KfpExecutor.host" in listed["kfp"]["reason"]
    config = Config({"KfpExecutor": {"host": "https://kfp.example.org"}})
    service = MLOps(root_dir=str(project), config=config)
    listed = {e["name"]: e for e in service.executors()["executors"]}
    assert listed["kfp"]["available"] is True


def test_the_kfp_executor_refuses_run_and_sweep_naming_submit(project: Path) -> None:
    for words in (["run"], ["sweep", "-p", "C", "1,2"]):
        code, _, err = _finish(_cli(project, *words, "train.ipynb", "--executor", "kfp"), 120)
        assert code == 2
        assert "jupyter mlops submit NOTEBOOK --host URL" in err
    with Store.for_root(project) as store:  # refused before anything was recorded
        assert store.list_runs().runs == []
    service = MLOps(root_dir=str(project))
    try:
        with pytest.raises(ExecutionError, match="jupyter mlops submit"):
            service.prepare_sweep("train.ipynb", {"C": ["1"]}, as_text=True, executor="kfp")
        assert service.store.list_runs().runs == []
    finally:
        service.close()


def test_credentials_do_not_print() -> None:
    auth = KfpAuth(token=TOKEN, cookies="session=abc")
    assert TOKEN not in repr(auth)
    assert "abc" not in repr(auth)
    assert TOKEN not in str(auth)


def _record(store: Store, executor: str) -> str:
    run, _ = store.create_run(notebook="nb.ipynb", parameters={}, executor=executor)
    return run.id


def test_list_runs_filters_by_executor(tmp_path: Path) -> None:
    store = Store.for_root(tmp_path)
    try:
        local = _record(store, "local")
        kfp = [_record(store, "kfp"), _record(store, "kfp")]
        assert {r.id for r in store.list_runs(executor="kfp").runs} == set(kfp)
        assert [r.id for r in store.list_runs(executor="local").runs] == [local]
        assert store.list_runs(executor="dask").runs == []
        assert len(store.list_runs().runs) == 3
    finally:
        store.close()


def test_runs_executor_option_on_the_real_cli(tmp_path: Path) -> None:
    store = Store.for_root(tmp_path)
    try:
        _record(store, "local")
        kfp = _record(store, "kfp")
    finally:
        store.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_mlops.cli",
            "--root",
            str(tmp_path),
            "runs",
            "--executor",
            "kfp",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["runs"]
    assert [(r["id"], r["executor"]) for r in listed] == [(kfp, "kfp")]


def test_an_unknown_status_is_still_refused_with_the_executor_filter(tmp_path: Path) -> None:
    store = Store.for_root(tmp_path)
    try:
        with pytest.raises(StoreError, match="nonsense"):
            store.list_runs(executor="kfp", status="nonsense")
    finally:
        store.close()


@pytest.fixture
def jp_server_config(
    jp_root_dir: Path, standin: KfpStandin, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    (jp_root_dir / "train.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)  # the server process's credentials
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "KfpExecutor": {"host": standin.host, "poll_interval": 1.0},
    }


@pytest.mark.kfp
async def test_rest_submit_is_followed_by_the_server(
    jp_fetch: Any, jp_root_dir: Path, standin: KfpStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def call(method: str, *parts: str, body: Any = None) -> tuple[int, Any]:
        response = await jp_fetch(
            "mlops",
            "api",
            *parts,
            method=method,
            body=None if body is None else json.dumps(body),
            raise_error=False,
        )
        return response.code, json.loads(response.body)

    # A user's mistakes are 400s naming the field or parameter
    # (another host cannot be named: the server's credentials go to its configured host only)
    status, error = await call(
        "POST", "submit", body={"path": "train.ipynb", "host": "http://elsewhere.example"}
    )
    assert (status, error.get("field")) == (400, "host")
    status, error = await call(
        "POST", "submit", body={"path": "train.ipynb", "parameters": {"C": "lots"}}
    )
    assert (status, error.get("parameter")) == (400, "C")
    status, error = await call("POST", "submit", body={"path": "nope.ipynb"})
    assert status == 404

    # The kfp executor is offered: the server is configured with a host
    status, listed = await call("GET", "executors")
    assert {e["name"]: e["available"] for e in listed["executors"]}["kfp"] is True

    # Submitted with the configured host; nobody lists it, the server follows it
    status, run = await call(
        "POST", "submit", body={"path": "train.ipynb", "parameters": {"C": "2"}}
    )
    assert status == 202, run
    assert (run["executor"], run["status"]) == ("kfp", "queued")
    assert run["external_id"] in standin.runs
    seen: list[str] = []
    deadline = time.monotonic() + 240
    while run["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, seen
        await asyncio.sleep(0.5)
        status, run = await call("GET", "runs", run["id"])
        seen.append(run["status"])
    assert run["status"] == "succeeded", run
    assert "running" in seen
    assert run["metrics"] == {"accuracy": pytest.approx(1.0)}
    assert f"Bearer {TOKEN}" in standin.authorizations
    assert TOKEN.encode() not in _files_text(jp_root_dir)
    assert "Run details: " in caplog.text  # what the kfp client printed went to the log
    assert TOKEN not in caplog.text


@pytest.mark.kfp
def test_cancel_terminates_the_kfp_run_and_an_unchanged_notebook_reuses_its_version(
    standin: KfpStandin, project: Path
) -> None:
    service = MLOps(root_dir=str(project))
    try:
        run = service.submit("train.ipynb", host=standin.host, auth=KfpAuth(token=TOKEN))
        cancelled = service.cancel(run.id)
        again = service.submit("train.ipynb", host=standin.host, auth=KfpAuth(token=TOKEN))
        service.cancel(again.id)
    finally:
        service.close()
    assert again.external_id is not None
    references = [
        standin.runs[external]["pipeline_version_reference"]
        for external in (run.external_id, again.external_id)
    ]
    assert references[0] == references[1]  # the same uploaded version, not a second one
    assert standin.pipelines[references[0]["pipeline_id"]]["display_name"] == "train"
    assert cancelled.status == "cancelled"
    assert cancelled.error is not None
    assert cancelled.error["evalue"] == "terminated from jupyter-mlops"
    assert run.external_id is not None
    assert standin.runs[run.external_id]["state"] == "CANCELED"
    assert f"POST /apis/v2beta1/runs/{run.external_id}:terminate" in standin.requests


@pytest.mark.kfp
@pytest.mark.kernel
def test_the_magic_submits_and_waits_in_a_real_kernel(standin: KfpStandin, project: Path) -> None:
    from test_magics import Kernel

    env = {k: v for k, v in os.environ.items() if k not in {"JPY_SESSION_NAME", "MPLBACKEND"}}
    env.update(PYTHONPATH=str(REPO), KF_PIPELINES_TOKEN=TOKEN)
    kernel = Kernel.start(project, env)
    try:
        kernel.ok("%load_ext jupyter_mlops")
        done = kernel.execute(
            f"run = %mlops submit --notebook train.ipynb --host {standin.host} -p C=4 --wait\n"
            "import json\n"
            "print(json.dumps({'status': run.status, 'executor': run.executor, "
            "'metrics': run.metrics, 'external_id': run.external_id}))",
            timeout=240,
        )
    finally:
        kernel.stop()
    assert done.reply["status"] == "ok", done.stream("stderr")
    shown = json.loads(done.stream("stdout").splitlines()[-1])
    assert (shown["status"], shown["executor"]) == ("succeeded", "kfp")
    assert shown["metrics"] == {"accuracy": pytest.approx(2.0)}
    assert standin.runs[shown["external_id"]]["state"] == "SUCCEEDED"
    assert TOKEN not in done.stream("stdout") + done.stream("stderr")


@pytest.mark.kfp
def test_following_rides_out_a_few_failed_polls(standin: KfpStandin, project: Path) -> None:
    from traitlets.config import Config

    config = Config({"KfpExecutor": {"poll_interval": 0.5, "poll_failures": 4}})
    service = MLOps(root_dir=str(project), config=config)
    try:
        run = service.submit("train.ipynb", host=standin.host, auth=KfpAuth(token=TOKEN))
        standin.unavailable_reads = 3
        done = service.kfp_executor().wait(run, auth=KfpAuth(token=TOKEN))
        assert standin.unavailable_reads == 0
        assert (done.status, done.metrics) == ("succeeded", {"accuracy": 0.25})

        standin.unavailable_reads = 4  # as many as allowed: following gives up, one error
        with pytest.raises(KfpError, match=r"cannot read KFP run .*: HTTP 503"):
            service.kfp_executor().wait(run, auth=KfpAuth(token=TOKEN))
    finally:
        standin.unavailable_reads = 0
        service.close()


@pytest.mark.kfp
def test_a_run_the_server_refuses_is_recorded_failed_with_its_reason(
    standin: KfpStandin, project: Path
) -> None:
    standin.refusal = "namespace quota exceeded"
    try:
        code, out, err = _finish(
            _cli(project, "submit", "train.ipynb", "--host", standin.host, "--wait"), 120
        )
    finally:
        standin.refusal = None
    assert code == 2
    assert out == ""
    (line,) = err.strip().splitlines()[-1:]
    assert line.startswith("error: the KFP server did not start the run of train-")
    assert line.endswith("HTTP 400 Bad Request: namespace quota exceeded")
    assert "Traceback" not in err
    with Store.for_root(project) as store:
        (run,) = store.list_runs(executor="kfp").runs
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["evalue"].endswith("namespace quota exceeded")
    assert run.external_id is None

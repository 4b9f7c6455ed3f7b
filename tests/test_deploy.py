"""Deployments: real keeper and serving processes on loopback, a real store, real HTTP.

Given a project whose notebook ran, when a function is deployed, then it serves the run's
values at a URL with a bearer token; a new version takes over the same port without a
refused request; a rollback serves the earlier one; a crash is restarted; a lost keeper is
restored; requests are counted, timed and sampled into the store (never the token).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import EXAMPLE, make_notebook

from jupyter_mlops.errors import ConflictError, MLOpsError, NotFoundError, StoreError
from jupyter_mlops.service import MLOps
from jupyter_mlops.store.deployment_records import Deployment

pytestmark = pytest.mark.kernel

FAST = {"monitor_interval": 0.3, "sample_rate": 1.0, "max_samples": 100}

SCORE = make_notebook(
    ("x: float = 1.0  # the feature\nfail: bool = False", "parameters"),
    ("import numpy as np", "mlops:setup"),
    ("weights = np.array([0.5, 2.0])\nbias = 0.25", "mlops:fn:train"),
    ("if fail:\n    raise ValueError('boom')\nscore = float(weights[1] * x + bias)",
     "mlops:fn:predict"),
)  # fmt: skip


def call(
    url: str, body: Any, token: str | None, timeout: float = 10.0
) -> tuple[int, dict[str, Any]]:
    """One POST /invoke on a new connection (as curl sends it)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", "/invoke", json.dumps(body).encode(), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("deploy")
    (root / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    service = MLOps(root_dir=str(root))
    try:
        assert service.run("score.ipynb").status == "succeeded"
        yield root
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


@pytest.fixture
def service(project: Path) -> Iterator[MLOps]:
    service = MLOps(root_dir=str(project))
    yield service
    service.close()


def deploy(service: MLOps, name: str, **options: Any) -> tuple[Deployment, str]:
    deployment, token = service.deployments.deploy(
        "score.ipynb", "predict", name=name, options={**FAST, **options.pop("options", {})},
        **options,
    )  # fmt: skip
    assert token is not None
    return deployment, token


def test_a_deployed_function_answers_with_its_bound_values(service: MLOps) -> None:
    deployment, token = deploy(service, "answers")
    assert deployment.status == "running"
    assert deployment.host == "127.0.0.1"
    assert deployment.port > 0
    assert call(deployment.url, {"x": 2.0, "fail": False}, token) == (200, {"score": 4.25})
    # the store keeps only the token's hash
    assert service.store.deployments.token_sha256("answers") == (
        hashlib.sha256(token.encode()).hexdigest()
    )
    assert [entry["name"] for entry in deployment.binding] == ["bias", "weights"]
    assert {entry["function"] for entry in deployment.binding} == {"train"}


def test_client_mistakes_get_their_status_and_the_endpoint_keeps_serving(service: MLOps) -> None:
    deployment, token = deploy(service, "mistakes")
    url = deployment.url
    status, body = call(url, {"x": "high", "fail": False}, token)
    assert status == 400
    assert body["field"] == "x"
    status, body = call(url, {"x": 1.0}, token)
    assert status == 400
    assert body["field"] == "fail"
    assert call(url, {"x": 1.0, "fail": False}, None)[0] == 401
    assert call(url, {"x": 1.0, "fail": False}, "wrong-token")[0] == 401
    status, body = call(url, [{"x": 1.0, "fail": False}] * 200_000, token)
    assert status == 413
    status, body = call(url, {"x": 1.0, "fail": True}, token)
    assert status == 500
    assert body["id"]
    assert "boom" not in json.dumps(body)
    assert call(url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.25})
    log = "\n".join(service.deployments.logs("mistakes", 500))
    assert body["id"] in log
    assert "ValueError: boom" in log
    assert token not in log


def test_a_new_version_takes_over_the_same_port_without_a_refused_request(
    service: MLOps, project: Path
) -> None:
    first, token = deploy(service, "handover")
    results: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                results.append(call(first.url, {"x": 1.0, "fail": False}, token)[0])
            except OSError as err:  # a refused or reset connection
                results.append(-1)
                print("error", err)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    notebook = json.loads((project / "score.ipynb").read_text())
    notebook["cells"][3]["source"] = notebook["cells"][3]["source"].replace("+ bias", "+ 2 * bias")
    try:
        time.sleep(0.5)
        second, new_token = service.deployments.deploy(  # the edited, unsaved notebook
            "score.ipynb", "predict", name="handover", options=FAST, content=notebook
        )
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert new_token is None  # the name keeps its token
    assert second.port == first.port
    assert second.serving_version != first.serving_version
    assert results, "no request was sent during the handover"
    assert set(results) == {200}, f"{results.count(-1)} failed of {len(results)}"
    assert call(first.url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.5})
    # roll back: the first version again, with its own snapshot and binding
    assert service.deployments.deployed_versions("handover") == [first.serving_version]
    back = service.deployments.rollback("handover")
    assert back.serving_version == first.serving_version
    assert back.port == first.port
    assert call(first.url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.25})
    kinds = [event.kind for event in service.store.deployments.events("handover")]
    assert kinds[:3] == ["rolled_back", "redeployed", "deployed"]


def test_a_redeploy_that_cannot_start_leaves_the_old_version_serving(
    service: MLOps, project: Path
) -> None:
    deployment, token = deploy(service, "keeps-old")
    broken = json.loads((project / "score.ipynb").read_text())
    broken["cells"][1]["source"] = "import numpy as np\nimport no_such_module_here"
    with pytest.raises(MLOpsError, match="no_such_module_here"):
        service.deployments.deploy("score.ipynb", "predict", name="keeps-old", content=broken)
    current = service.deployments.get("keeps-old")
    assert current.status == "running"
    assert current.serving_version == deployment.serving_version
    assert current.version == deployment.version  # what is wanted went back to what serves
    assert call(deployment.url, {"x": 1.0, "fail": False}, token)[0] == 200


def test_a_first_deploy_that_fails_leaves_nothing(service: MLOps, project: Path) -> None:
    fresh = project / "fresh"
    fresh.mkdir()
    (fresh / "score.ipynb").write_text(json.dumps(SCORE))
    with pytest.raises(MLOpsError, match="no succeeded run produced"):
        service.deployments.deploy("fresh/score.ipynb", "predict", name="never-ran")
    assert service.store.deployments.find("never-ran") is None
    broken = json.loads(json.dumps(SCORE))
    broken["cells"][1]["source"] = "import numpy as np\nraise RuntimeError('setup broke')"
    with pytest.raises(MLOpsError, match="setup broke"):
        service.deployments.deploy("score.ipynb", "predict", name="setup-broke", content=broken)
    assert service.store.deployments.find("setup-broke") is None
    assert not (project / ".mlops" / "deployments" / "setup-broke").exists()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "Bad_Name"}, StoreError, "not a deployment name"),
        ({"name": "x" * 70}, StoreError, "not a deployment name"),
        ({"version": "0000dead"}, NotFoundError, "0000dead"),
        ({"from_run": "nosuchrun"}, NotFoundError, "nosuchrun"),
    ],
)
def test_bad_deploy_requests_are_refused_before_anything_is_written(
    service: MLOps, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    before = [d.name for d in service.deployments.every()]
    with pytest.raises(error, match=match):
        service.deployments.deploy("score.ipynb", "predict", **kwargs)
    assert [d.name for d in service.deployments.every()] == before


def test_an_unknown_function_or_a_name_taken_by_another_is_refused(service: MLOps) -> None:
    with pytest.raises(MLOpsError, match="train, predict"):
        service.deployments.deploy("score.ipynb", "nope")
    deploy(service, "taken")
    with pytest.raises(ConflictError, match="serves 'predict'"):
        service.deployments.deploy("score.ipynb", "train", name="taken")


def test_a_crashed_server_is_restarted_on_the_same_port(service: MLOps) -> None:
    deployment, token = deploy(service, "crashes")
    os.kill(deployment.serve_pid or 0, signal.SIGKILL)
    restarted = wait_for(
        lambda: (
            (d := service.deployments.get("crashes")).status == "running"
            and d.serve_pid != deployment.serve_pid
            and d
        ),
        what="the restart",
    )
    assert restarted.restarts == 1
    assert restarted.port == deployment.port
    assert call(deployment.url, {"x": 1.0, "fail": False}, token)[0] == 200
    kinds = [event.kind for event in service.store.deployments.events("crashes")]
    assert "crashed" in kinds
    assert "restarted" in kinds


def test_a_lost_keeper_is_restored_and_stop_start_keep_port_and_token(service: MLOps) -> None:
    deployment, token = deploy(service, "restored")
    keeper = psutil.Process(deployment.keeper_pid or 0)
    serving = psutil.Process(deployment.serve_pid or 0)
    keeper.kill()  # as a reboot would: no chance to clean up
    serving.kill()
    keeper.wait(10)
    serving.wait(10)
    assert "restored" in service.deployments.restore()
    back = wait_for(
        lambda: (
            (d := service.deployments.get("restored")).status == "running"
            and d.keeper_pid != deployment.keeper_pid
            and d
        ),
        what="the restore",
    )
    assert back.port == deployment.port
    assert call(deployment.url, {"x": 1.0, "fail": False}, token)[0] == 200
    assert service.deployments.restore() == []  # alive: nothing to do

    stopped = service.deployments.stop("restored")
    assert stopped.status == "stopped"
    assert stopped.desired == "stopped"
    with pytest.raises(ConnectionRefusedError):
        call(deployment.url, {"x": 1.0, "fail": False}, token, timeout=2)
    assert service.deployments.restore() == []  # stopped on purpose: not restored
    started = service.deployments.start("restored")
    assert started.status == "running"
    assert started.port == deployment.port
    assert call(deployment.url, {"x": 1.0, "fail": False}, token)[0] == 200


def test_requests_are_counted_timed_and_sampled_without_the_token(
    service: MLOps, project: Path
) -> None:
    deployment, token = deploy(service, "monitored")
    for x in range(30):
        assert call(deployment.url, {"x": float(x), "fail": False}, token)[0] == 200
    assert call(deployment.url, {"x": "bad", "fail": False}, token)[0] == 400
    assert call(deployment.url, {"x": 1.0, "fail": True}, token)[0] == 500
    rows = service.store.deployments
    totals = wait_for(
        lambda: (t := rows.totals("monitored"))["requests"] == 32 and t, what="the windows"
    )
    assert totals["errors"] == 1
    assert totals["rejected"] == 1
    assert totals["p50_ms"] is not None
    assert totals["p99_ms"] >= totals["p50_ms"]
    samples = rows.samples("monitored", 100)
    assert len(samples) == 32  # sample rate 1.0
    inputs = [s.input for s in samples if s.status == 200]
    assert {"x": 29.0, "fail": False} in inputs
    assert any(s.output == {"score": 58.25} for s in samples)
    everything = b"".join(
        path.read_bytes() for path in (project / ".mlops").rglob("*") if path.is_file()
    )
    assert token.encode() not in everything


def test_a_load_of_thousands_of_requests_has_no_errors_and_stable_memory(service: MLOps) -> None:
    from concurrent.futures import ThreadPoolExecutor

    deployment, token = deploy(service, "load", options={"sample_rate": 0.1})
    serving = psutil.Process(deployment.serve_pid or 0)

    def batch(n: int) -> list[int]:
        return [call(deployment.url, {"x": 1.0, "fail": False}, token)[0] for _ in range(n)]

    with ThreadPoolExecutor(24) as pool:
        warm = [s for result in pool.map(batch, [20] * 24) for s in result]
        before = serving.memory_info().rss
        statuses = [s for result in pool.map(batch, [100] * 24) for s in result]
    growth = serving.memory_info().rss - before
    assert set(warm) == {200}
    assert len(statuses) == 2400
    assert set(statuses) == {200}
    assert growth < 20 * 1024 * 1024, f"memory grew {growth / 1e6:.1f} MB"
    assert wait_for(lambda: service.store.deployments.totals("load")["requests"] == 2880)


def test_the_cli_deploys_lists_rolls_back_and_undeploys(project: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(project), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = cli("deploy", "score.ipynb", "--function", "predict", "--name", "cli", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    token, url = result["token"], result["deployment"]["url"]
    assert result["deployment"]["fields"][0]["name"] == "fail"
    assert result["deployment"]["example"] == {"fail": False, "x": 1.0}
    assert call(url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.25})
    listing = cli("deployments")
    assert listing.returncode == 0
    assert "cli" in listing.stdout
    assert "running" in listing.stdout
    assert "started" in cli("logs", "cli").stdout or cli("logs", "cli").returncode == 0
    refused = cli("rollback", "cli")
    assert refused.returncode == 2
    assert "no earlier version" in refused.stderr
    assert "Traceback" not in refused.stderr
    text = cli("deploy", "score.ipynb", "-f", "predict", "--name", "cli-text")
    assert text.returncode == 0
    assert "shown once" in text.stdout
    assert "curl -H" in text.stdout
    stopped = cli("undeploy", "cli")
    assert stopped.returncode == 0
    assert "stopped" in stopped.stdout
    deleted = cli("undeploy", "cli", "--delete")
    assert deleted.returncode == 0
    assert cli("deployments", "cli").returncode == 2


def test_the_example_predict_endpoint_answers_what_the_notebook_computed(
    tmp_path: Path,
) -> None:
    (tmp_path / "churn.ipynb").write_bytes(EXAMPLE.read_bytes())
    service = MLOps(root_dir=str(tmp_path))
    try:
        run = service.run("churn.ipynb")
        assert run.status == "succeeded"
        stored = {a.name: a for a in run.artifacts}["predict/churn_probability"]
        from jupyter_mlops.convert.runtime_io import mlops_load

        expected = mlops_load(str(service.store.artifact_path(stored.id)))
        deployment, token = service.deployments.deploy("churn.ipynb", "predict")
        assert deployment.name == "predict"
        body = {"tenure_months": 24, "charges": 70.0, "calls": 1, "contract_type": "monthly"}
        status, answer = call(deployment.url, body, token)
        assert status == 200
        assert answer["churn_probability"] == pytest.approx(expected)
        assert answer["will_churn"] is (expected >= 0.5)
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()

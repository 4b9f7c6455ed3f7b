"""Deployments that follow an alias: real keeper and serving processes, a real store.

Given a deployment that follows ``production``, when the alias moves to another version,
then redeploy_followers hands the endpoint over to it with no failed request; a version
that cannot start leaves the old one serving with an event saying why; a deployment that
follows nothing is untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_deploy import FAST, SCORE, call

from jupyter_mlops.deploy.follow import POLL_SECONDS, AliasWatcher, redeploy_followers
from jupyter_mlops.notebook.reader import read_notebook
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel


def notebook_version(service: MLOps, path: Path) -> str:
    plan = service.inspect(read_notebook(str(path), name=path.name), name=path.name)
    return plan.function("predict").version


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MLOps]:
    (tmp_path / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    service = MLOps(root_dir=str(tmp_path))
    try:
        assert service.run("score.ipynb").status == "succeeded"
        yield service
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


def test_a_follower_serves_where_the_alias_moves_without_a_failed_request(
    service: MLOps, tmp_path: Path
) -> None:
    path = tmp_path / "score.ipynb"
    first = notebook_version(service, path)
    service.store.set_alias("predict", first, "production")
    follower, token = service.deployments.deploy(
        "score.ipynb", "predict", name="follower", alias="production", options=FAST
    )
    fixed, fixed_token = service.deployments.deploy(
        "score.ipynb", "predict", name="fixed", options=FAST
    )
    assert token
    assert fixed_token
    assert call(follower.url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.25})
    # a better version: the notebook edited on disk and run, then the alias moves to it
    notebook = json.loads(path.read_text())
    notebook["cells"][3]["source"] = notebook["cells"][3]["source"].replace("+ bias", "+ 2 * bias")
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert service.run("score.ipynb").status == "succeeded"
    second = notebook_version(service, path)
    assert second != first
    service.store.set_alias("predict", second, "production")
    results: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                results.append(call(follower.url, {"x": 1.0, "fail": False}, token)[0])
            except OSError:
                results.append(-1)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        outcomes = redeploy_followers(service, "predict", "production")
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert [(o.name, o.version, o.ok) for o in outcomes] == [("follower", second, True)]
    assert results
    assert set(results) == {200}, f"{results.count(-1)} failed of {len(results)}"
    assert call(follower.url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.5})
    assert service.deployments.get("follower").serving_version == second
    # the deployment that follows nothing still serves the first version
    assert service.deployments.get("fixed").serving_version == first
    assert call(fixed.url, {"x": 1.0, "fail": False}, fixed_token) == (200, {"score": 2.25})

    # a version that cannot start: the old one keeps serving, an event says why
    broken = json.loads(path.read_text())
    broken["cells"][1]["source"] = "from no_such_module_here import np"
    broken["cells"][3]["source"] = "score = float(np.float64(weights[1]) * x + 2 * bias)"
    path.write_text(json.dumps(broken), encoding="utf-8")
    third = notebook_version(service, path)
    assert third != second
    fn = service.inspect(read_notebook(str(path), name=path.name), name=path.name)
    code = "\n\n".join(cell.source for cell in fn.function("predict").cells)
    service.store.register_version("predict", third, notebook="score.ipynb", code=code)
    service.store.set_alias("predict", third, "production")
    outcomes = redeploy_followers(service, "predict", "production")
    assert [(o.name, o.ok) for o in outcomes] == [("follower", False)]
    assert "no_such_module_here" in (outcomes[0].error or "")
    current = service.deployments.get("follower")
    assert current.status == "running"
    assert current.serving_version == second
    assert call(follower.url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.5})
    event = service.store.deployments.events("follower")[0]
    assert event.kind == "failed"
    assert "no_such_module_here" in (event.message or "")


def test_a_move_by_another_process_is_followed_within_the_poll_delay(
    service: MLOps, tmp_path: Path
) -> None:
    path = tmp_path / "score.ipynb"
    first = notebook_version(service, path)
    service.store.set_alias("predict", first, "production")
    follower, token = service.deployments.deploy(
        "score.ipynb", "predict", name="follower", alias="production", options=FAST
    )
    assert token
    notebook = json.loads(path.read_text())
    notebook["cells"][3]["source"] = notebook["cells"][3]["source"].replace("+ bias", "+ 2 * bias")
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert service.run("score.ipynb").status == "succeeded"
    second = notebook_version(service, path)
    watcher = AliasWatcher(service, interval=POLL_SECONDS)
    watcher.start()
    try:
        time.sleep(1.0)  # the first reconcile: nothing to do, the alias is on `first`
        assert service.deployments.get("follower").serving_version == first
        moved = subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(tmp_path),
             "tag", "predict", second[:12], "production"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr
        moved_at = time.monotonic()
        # the poll delay plus a redeploy, with a generous margin for a loaded machine
        deadline = moved_at + POLL_SECONDS + 60
        while time.monotonic() < deadline:
            if service.deployments.get("follower").serving_version == second:
                break
            time.sleep(0.1)
        assert service.deployments.get("follower").serving_version == second
        assert call(follower.url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.5})
    finally:
        watcher.stop()


def test_the_cli_deploys_a_follower_and_shows_what_it_follows(
    service: MLOps, tmp_path: Path
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(tmp_path), *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    first = notebook_version(service, tmp_path / "score.ipynb")
    assert cli("tag", "predict", first[:12], "production").returncode == 0
    done = cli("deploy", "score.ipynb", "-f", "predict", "--name", "cli-follow",
               "--follow", "production", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deployment"]["follows"] == "production"
    shown = cli("deployments", "cli-follow")
    assert shown.returncode == 0, shown.stderr
    assert "follows   production" in shown.stdout
    both = cli("deploy", "score.ipynb", "-f", "predict", "--alias", "production",
               "--follow", "production")  # fmt: skip
    assert both.returncode == 2
    assert "Traceback" not in both.stderr

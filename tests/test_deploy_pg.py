"""A deployment on a PostgreSQL store, bound from a run another process recorded.

Real processes throughout: a CLI process runs the notebook into a fresh database on the
throw-away cluster (tests/postgres.py); the service deploys the function, so a keeper process
and a serving process read the run's values from PostgreSQL; the keeper writes the monitoring
windows back; the CLI lists the deployment. Nothing but the store is shared between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_deploy import FAST, SCORE, call, wait_for

from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parent.parent


def cli(root: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *words],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, postgres_url: str) -> Path:
    (tmp_path / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    config = {"MLOps": {"store_url": postgres_url}}
    (tmp_path / "jupyter_mlops_config.json").write_text(json.dumps(config), encoding="utf-8")
    return tmp_path


@pytest.fixture
def service(project: Path, postgres_url: str) -> Iterator[MLOps]:
    service = MLOps(root_dir=str(project), store_url=postgres_url)
    yield service
    for deployment in service.deployments.every():
        service.deployments.stop(deployment.name)
    service.close()


def test_a_function_deployed_from_a_run_of_another_process_serves_its_values(
    project: Path, service: MLOps
) -> None:
    ran = cli(project, "run", "score.ipynb", "--json")
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    assert run["status"] == "succeeded"

    deployment, token = service.deployments.deploy(
        "score.ipynb", "predict", name="score-pg", options=FAST, from_run=run["id"]
    )
    assert token is not None
    assert deployment.status == "running"
    assert deployment.from_run == run["id"]
    assert call(deployment.url, {"x": 2.0, "fail": False}, token) == (200, {"score": 4.25})
    assert call(deployment.url, {"x": 1.0, "fail": False}, token) == (200, {"score": 2.25})

    # the keeper moves the monitoring windows into PostgreSQL
    totals = wait_for(
        lambda: (t := service.store.deployments.totals("score-pg"))["requests"] >= 2 and t,
        timeout=60,
        what="the monitoring windows in the store",
    )
    assert totals["errors"] == 0
    listed = cli(project, "deployments", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "score-pg" in listed.stdout
    behind = service.store.lineage.behind("score-pg")
    assert [r["id"] for r in behind["runs"]] == [run["id"]]

"""Drift end to end: a training run records its reference, the deployment counts every request
into its bins, and ``jupyter mlops drift`` judges the windows. Real kernels, a real keeper and
serving process on loopback, real HTTP, the real CLI.

Given a notebook whose train function calls ``log_reference`` on its training rows, when its
predict function is deployed and fed traffic drawn like the training data, no window drifts;
when one field's mean moves by half a standard deviation, that field is found drifted within
two windows of 200 requests, and the other field is not.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook
from test_deploy import call, wait_for

from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

FAST = {"monitor_interval": 0.3, "sample_rate": 0.0}
PLANS = ["basic", "pro", "team"]

CHURN = make_notebook(
    ('tenure: float = 20.0\nplan: str = "basic"', "parameters"),
    ("import random\nfrom jupyter_mlops import log_reference", "mlops:setup"),
    (
        "rng = random.Random(0)\n"
        "rows = {'tenure': [rng.gauss(20, 5) for _ in range(3000)],\n"
        "        'plan': [rng.choice(['basic', 'pro', 'team']) for _ in range(3000)]}\n"
        "log_reference(rows)\n"
        "weight = 0.1",
        "mlops:fn:train",
    ),
    ("score = weight * tenure + (1.0 if plan == 'pro' else 0.0)", "mlops:fn:predict"),
)

PLAIN = make_notebook(  # no reference: its training logs none and outputs no table
    ("tenure: float = 20.0", "parameters"),
    ("other = 2.0", "mlops:fn:plain"),
    ("doubled = other * tenure", "mlops:fn:unwatched"),
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("drift")
    (root / "churn.ipynb").write_text(json.dumps(CHURN), encoding="utf-8")
    service = MLOps(root_dir=str(root))
    try:
        assert service.run("churn.ipynb").status == "succeeded"
        yield root
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


def cli_drift(root: Path, name: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), "drift", name, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def send(url: str, token: str, rng: random.Random, count: int, tenure_mean: float) -> None:
    """``count`` requests, paced so a monitoring window holds at most about 50 (windows of
    200 requests are then made of several, however fast this machine answers)."""
    for i in range(count):
        body = {"tenure": rng.gauss(tenure_mean, 5), "plan": rng.choice(PLANS)}
        assert call(url, body, token)[0] == 200
        if i % 50 == 49:
            time.sleep(FAST["monitor_interval"] + 0.05)


def test_stable_traffic_does_not_drift_and_a_half_sd_shift_does_within_two_windows(
    project: Path,
) -> None:
    service = MLOps(root_dir=str(project))
    try:
        deployment, token = service.deployments.deploy(
            "churn.ipynb", "predict", name="churn-score", options=FAST
        )
        assert token is not None
        rng = random.Random(42)

        # Given traffic drawn as the training data was: windows judged, none drifted.
        send(deployment.url, token, rng, 600, 20.0)
        stable = wait_for(
            lambda: len((r := cli_drift(project, "churn-score"))["windows"]) >= 2 and r,
            timeout=60,
            what="two windows of stable traffic",
        )
        assert stable["reference_source"].startswith("log_reference in run")
        assert {f["field"] for f in stable["fields"] if f["role"] == "input"} == {"tenure", "plan"}
        assert all(not w["drifted"] for w in stable["windows"]), stable["windows"]
        by_field = {f["field"]: f for f in stable["fields"]}
        assert by_field["tenure"]["statistic"] == "wasserstein"  # 3,000 reference rows
        assert by_field["plan"]["statistic"] == "jensenshannon"
        assert by_field["plan"]["reference"]["labels"] == [*PLANS, "<other>"]
        assert sum(by_field["tenure"]["current"]["counts"]) >= 200

        # When tenure moves by half a standard deviation: caught within two windows. (Windows
        # are made of whole monitoring windows, so one may hold more than 200 requests, and
        # the first may start with stable requests not judged yet: send enough for two.)
        judged = len(stable["windows"])
        send(deployment.url, token, rng, 700, 22.5)
        last: dict[str, Any] = {}

        def two_more() -> dict[str, Any] | None:
            last.update(cli_drift(project, "churn-score"))
            return last if len(last["windows"]) >= judged + 2 else None

        try:
            shifted = wait_for(two_more, timeout=60, what="two windows of shifted traffic")
        except AssertionError:
            counted = [(w["requests"], w["drifted"]) for w in last["windows"]]
            raise AssertionError(f"{counted}, pending {last['pending_requests']}") from None
        after = shifted["windows"][judged : judged + 2]
        assert any("tenure" in w["drifted"] for w in after), after
        assert all("plan" not in w["drifted"] for w in shifted["windows"]), shifted["windows"]
        tenure = next(f for f in shifted["fields"] if f["field"] == "tenure")
        assert tenure["drifted_windows"] >= 1
        assert tenure["threshold"] >= 0.1  # a distance keeps Evidently's floor
    finally:
        service.close()


def test_a_deployment_without_a_reference_says_how_to_record_one(project: Path) -> None:
    (project / "plain.ipynb").write_text(json.dumps(PLAIN), encoding="utf-8")
    service = MLOps(root_dir=str(project))
    try:
        assert service.run("plain.ipynb").status == "succeeded"
        service.deployments.deploy("plain.ipynb", "unwatched", name="unwatched", options=FAST)
        report = cli_drift(project, "unwatched")
        assert report["fields"] == []
        assert "log_reference(df)" in report["message"]
    finally:
        service.close()


def test_drift_of_an_unknown_deployment_is_a_one_line_error(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(project), "drift", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "nope" in done.stderr
    assert "Traceback" not in done.stderr

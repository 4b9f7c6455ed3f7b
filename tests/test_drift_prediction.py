"""The prediction's distribution in drift, on real kernels, keepers and serving processes.

Given a training run that logs the predictions it makes on its training rows, the
deployment counts every answer into those bins: when the inputs move, the prediction
``prediction.score`` is found drifted beside ``tenure``, and reported as a prediction. Given
a training run that logs none, the first 200 answers become the reference (shared by the
deployment's two workers through one file) and the report says so.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook
from test_deploy import wait_for
from test_drift_loop import FAST, cli_drift, send

from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

TRAIN = (
    "rng = random.Random(0)\n"
    "rows = {'tenure': [rng.gauss(20, 5) for _ in range(3000)],\n"
    "        'plan': [rng.choice(['basic', 'pro', 'team']) for _ in range(3000)]}\n"
    "weight = 0.1\n"
    "scores = [weight * t + (1.0 if p == 'pro' else 0.0)\n"
    "          for t, p in zip(rows['tenure'], rows['plan'])]\n"
)
PREDICT = ("score = weight * tenure + (1.0 if plan == 'pro' else 0.0)", "mlops:fn:predict")


def notebook(log: str) -> dict[str, Any]:
    return make_notebook(
        ('tenure: float = 20.0\nplan: str = "basic"', "parameters"),
        ("import random\nfrom jupyter_mlops import log_reference", "mlops:setup"),
        (TRAIN + log, "mlops:fn:train"),
        PREDICT,
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MLOps]:
    logged = notebook("log_reference(rows, predictions={'score': scores})")
    unlogged = notebook("log_reference(rows)")
    (tmp_path / "logged.ipynb").write_text(json.dumps(logged), encoding="utf-8")
    (tmp_path / "unlogged.ipynb").write_text(json.dumps(unlogged), encoding="utf-8")
    service = MLOps(root_dir=str(tmp_path))
    try:
        yield service
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


def test_a_shift_in_the_inputs_shows_in_the_logged_prediction_reference(
    service: MLOps, tmp_path: Path
) -> None:
    assert service.run("logged.ipynb").status == "succeeded"
    deployment, token = service.deployments.deploy(
        "logged.ipynb", "predict", name="scored", options=FAST
    )
    assert token is not None
    rng = random.Random(5)
    send(deployment.url, token, rng, 500, 20.0)
    stable = wait_for(
        lambda: len((r := cli_drift(tmp_path, "scored"))["windows"]) >= 2 and r, 60, "windows"
    )
    fields = {f["field"]: f for f in stable["fields"]}
    assert fields["prediction.score"]["role"] == "prediction"
    assert fields["tenure"]["role"] == "input"
    assert all("prediction.score" not in w["drifted"] for w in stable["windows"])
    judged = len(stable["windows"])
    send(deployment.url, token, rng, 700, 25.0)
    shifted = wait_for(
        lambda: len((r := cli_drift(tmp_path, "scored"))["windows"]) >= judged + 2 and r,
        60,
        "two windows of shifted traffic",
    )
    later = shifted["windows"][judged:]
    assert any("prediction.score" in w["drifted"] for w in later), later
    assert any("tenure" in w["drifted"] for w in later), later


def test_without_a_logged_one_the_first_answers_are_the_reference(
    service: MLOps, tmp_path: Path
) -> None:
    assert service.run("unlogged.ipynb").status == "succeeded"
    options = {**FAST, "workers": 2}
    deployment, token = service.deployments.deploy(
        "unlogged.ipynb", "predict", name="first", options=options
    )
    assert token is not None
    rng = random.Random(6)
    send(deployment.url, token, rng, 200, 20.0)
    assert "prediction.score" not in {f["field"] for f in cli_drift(tmp_path, "first")["fields"]}
    send(deployment.url, token, rng, 500, 20.0)  # the workers reach 200 answers between them

    def adopted() -> dict[str, Any] | None:
        found = cli_drift(tmp_path, "first")
        return found if any(f["field"] == "prediction.score" for f in found["fields"]) else None

    report = wait_for(adopted, 60, "the first-served prediction reference")
    assert "prediction: the first 200 predictions served" in report["reference_source"]
    shared = list((tmp_path / ".mlops").rglob("prediction-reference-*.json"))
    assert len(shared) == 1  # one reference for both workers
    prediction = next(f for f in report["fields"] if f["field"] == "prediction.score")
    assert prediction["role"] == "prediction"
    assert prediction["reference"]["counts"]

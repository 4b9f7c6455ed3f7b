"""Serving a typed ``def``: the natural way to write a scorer. Real kernels run the notebook, a
real keeper and serving process answer on loopback.

Given a function cell that defines ``def predict(tenure: float, plan: str = "basic") -> dict``
using ``weights`` and ``bias`` from an earlier function, when it is deployed, then the request
fields are the def's parameters (the default honoured), the globals are bound from the run that
produced them, the response is the def's return value, batches and the OpenAPI document follow
the signature, and wrong fields are refused naming them.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook
from test_deploy import call

from jupyter_mlops.deploy.views import deployment_view
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

SCORER = make_notebook(
    ("x: float = 1.0", "parameters"),
    ("import math", "mlops:setup"),
    ("weights = [0.5, 2.0]\nbias = 0.25", "mlops:fn:train"),
    (
        "def predict(tenure: float, plan: str = 'basic', months: int = 12) -> dict:\n"
        "    '''Score one customer.'''\n"
        "    score = weights[1] * tenure + bias + (1.0 if plan == 'pro' else 0.0)\n"
        "    return {'score': round(score, 3), 'plan': plan, 'months': months}",
        "mlops:fn:predict",
    ),
)
UNTYPED = make_notebook(  # a def without annotations: today's form (fields = parameters read)
    ("x: float = 1.0", "parameters"),
    ("bias = 0.25", "mlops:fn:train"),
    ("def helper(v):\n    return v + bias\n\ny = helper(x)", "mlops:fn:predict"),
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("typed")
    (root / "scorer.ipynb").write_text(json.dumps(SCORER), encoding="utf-8")
    (root / "untyped.ipynb").write_text(json.dumps(UNTYPED), encoding="utf-8")
    service = MLOps(root_dir=str(root))
    try:
        assert service.run("scorer.ipynb").status == "succeeded"
        assert service.run("untyped.ipynb").status == "succeeded"
        yield root
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


def get(url: str, path: str, token: str) -> tuple[int, Any]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_typed_def_is_served_with_its_signature_and_its_bound_globals(project: Path) -> None:
    service = MLOps(root_dir=str(project))
    try:
        deployment, token = service.deployments.deploy(
            "scorer.ipynb", "predict", name="scorer", options={"monitor_interval": 0.5}
        )
        assert token is not None
        url = deployment.url
        # the def's return value is the response; its defaults apply to fields left out
        assert call(url, {"tenure": 2.0}, token) == (
            200,
            {"score": 4.25, "plan": "basic", "months": 12},
        )
        assert call(url, {"tenure": 1.0, "plan": "pro", "months": 3}, token) == (
            200,
            {"score": 3.25, "plan": "pro", "months": 3},
        )
        # a batch answers a list of return values
        status, body = call(url, [{"tenure": 0.0}, {"tenure": 1.0, "plan": "pro"}], token)
        assert status == 200
        assert [item["score"] for item in body] == [0.25, 3.25]
        # wrong fields are refused by name, as for any deployment
        status, body = call(url, {"plan": "pro"}, token)
        assert status == 400
        assert body["field"] == "tenure"
        status, body = call(url, {"tenure": "abc"}, token)
        assert (status, body["field"]) == (400, "tenure")
        status, body = call(url, {"tenure": 1.0, "x": 2.0}, token)
        assert (status, body["field"]) == (400, "x")  # notebook parameters are not fields
        status, body = call(url, {"tenure": 1.0, "months": 1.5}, token)
        assert (status, body["field"]) == (400, "months")

        # the OpenAPI document follows the signature
        status, document = get(url, "/openapi.json", token)
        assert status == 200
        inputs = document["components"]["schemas"]["Inputs"]
        assert inputs["required"] == ["tenure"]
        assert inputs["properties"]["tenure"]["type"] == "number"
        assert inputs["properties"]["months"]["default"] == 12
        assert document["components"]["schemas"]["Outputs"]["type"] == "object"

        # and so does the view the sidebar's try-it form and the CLI are built from
        view = deployment_view(service.deployments, service.deployments.get("scorer"))
        assert [(f["name"], f["required"]) for f in view["fields"]] == [
            ("tenure", True),
            ("plan", False),
            ("months", False),
        ]
        assert view["example"] == {"tenure": 0.0, "plan": "basic", "months": 12}
        assert view["outputs"] == ["predict() -> dict"]
        # the example body the sidebar offers is a valid request
        assert call(url, view["example"], token)[0] == 200
    finally:
        service.close()


def test_a_def_without_annotations_keeps_the_function_form(project: Path) -> None:
    service = MLOps(root_dir=str(project))
    try:
        deployment, token = service.deployments.deploy(
            "untyped.ipynb", "predict", name="untyped", options={"monitor_interval": 0.5}
        )
        assert token is not None
        assert call(deployment.url, {"x": 2.0}, token) == (200, {"y": 2.25})
    finally:
        service.close()


SWEPT = make_notebook(
    ("w: float = 2.0", "parameters"),
    ("weights = [0.5, w]\nbias = 0.25", "mlops:fn:train"),
    ("quality = -abs(w - 1.0)", "mlops:metrics"),
    (
        "def predict(tenure: float) -> float:\n    return weights[1] * tenure + bias",
        "mlops:fn:predict",
    ),
)


def test_a_deploy_right_after_a_sweep_binds_the_best_run_and_says_why(project: Path) -> None:
    (project / "swept.ipynb").write_text(json.dumps(SWEPT), encoding="utf-8")
    service = MLOps(root_dir=str(project))
    try:
        # Given a sweep whose best run (w = 1.0) is not the one that finished last (w = 3.0)
        result = service.sweep(
            "swept.ipynb", {"w": [0.5, 1.0, 3.0]}, function="train", select="max:quality"
        )
        best = result.sweep.best_run_id
        assert best is not None
        assert service.show(best).parameters["w"] == 1.0
        # (the sweep runs its points one at a time, so the best one did not end last)
        last = max(result.runs, key=lambda run: (run.ended_at, run.id))
        assert last.id != best
        # when predict is deployed, it is bound to the best run, and the record says why
        deployment, token = service.deployments.deploy(
            "swept.ipynb", "predict", name="swept", options={"monitor_interval": 0.5}
        )
        assert token is not None
        assert {entry["run"] for entry in deployment.binding} == {best}
        assert all(entry["how"].startswith("best of sweep") for entry in deployment.binding)
        assert all("max:quality" in entry["how"] for entry in deployment.binding)
        assert call(deployment.url, {"tenure": 2.0}, token) == (200, 2.25)
    finally:
        service.close()

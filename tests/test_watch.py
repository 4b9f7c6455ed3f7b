"""The loop end to end: drift -> retrain -> gate -> promote -> rollover -> rollback.

Real kernels, a real keeper and serving process on loopback, real HTTP, a real SQLite store,
the real CLI for ``watch --once``. Given ``predict`` deployed following ``production`` and a
policy that retrains ``train`` on newer data, stable traffic fires nothing; traffic whose
``tenure`` moved by a standard deviation fires the policy once, the retrained run passes the
gate, the alias moves to it and the endpoint serves it. When the promoted model then fails on
most requests, the next pass moves the alias back to the champion and the endpoint follows.
A manual-approval policy moves ``staging`` and leaves ``production`` alone.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MLOpsAPI, make_notebook
from test_deploy import call, wait_for

from jupyter_mlops.loop.watch import Watcher
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

FAST = {"monitor_interval": 0.3, "sample_rate": 0.0}

CHURN = make_notebook(
    ("mean: float = 20.0\nw: float = 0.1\nbroken: bool = False\ndelay: float = 0.0\n"
     "tenure: float = 20.0", "parameters"),
    ("import random\nimport time\nfrom jupyter_mlops import log_reference", "mlops:setup"),
    ("rng = random.Random(0)\n"
     "log_reference({'tenure': [rng.gauss(mean, 5) for _ in range(3000)]})\n"
     "weight = w\nfaulty = broken\nlag = delay\naccuracy = 0.8 + w",
     ["mlops:fn:train", "mlops:metrics"]),
    ("if faulty and tenure > 10:\n    raise ValueError('a broken model')\n"
     "time.sleep(lag)\nscore = weight * tenure", "mlops:fn:predict"),
)  # fmt: skip


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MLOps]:
    (tmp_path / "churn.ipynb").write_text(json.dumps(CHURN), encoding="utf-8")
    service = MLOps(root_dir=str(tmp_path))
    try:
        champion = service.run("churn.ipynb", function="train")
        assert champion.status == "succeeded"
        service.promote("churn.ipynb", "train", to="production")
        yield service
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


def send(url: str, token: str, rng: random.Random, count: int, mean: float) -> list[int]:
    """``count`` requests paced so a monitoring window holds about 50; their statuses."""
    statuses = []
    for i in range(count):
        statuses.append(call(url, {"tenure": rng.gauss(mean, 5)}, token)[0])
        if i % 50 == 49:
            time.sleep(FAST["monitor_interval"] + 0.05)
    return statuses


def kinds(service: MLOps, name: str) -> list[str]:
    return [e.kind for e in service.store.events.timeline(name) if e.source == "loop"]


def test_drift_retrains_promotes_rolls_over_and_a_regression_rolls_back(service: MLOps) -> None:
    champion = service.store.alias_target("train", "production")
    assert champion is not None
    deployment, token = service.deployments.deploy(
        "churn.ipynb", "predict", name="churn-score", alias="production", options=FAST
    )
    assert token is not None
    service.policies.set(
        "churn-score",
        notebook="churn.ipynb",
        function="train",
        parameters={"mean": "25", "w": "0.2"},
        gate="accuracy >= production",
        after=2,
    )
    watcher = Watcher(service)
    rng = random.Random(7)

    # Given stable traffic: windows judged, nothing fires.
    assert set(send(deployment.url, token, rng, 500, 20.0)) == {200}
    wait_for(lambda: len(service.deployments.drift("churn-score")["windows"]) >= 2, 60)
    assert watcher.tick() == []

    # When tenure moves by a standard deviation: two drifted windows fire the policy once.
    send(deployment.url, token, rng, 700, 25.0)
    wait_for(
        lambda: (
            sum(bool(w["drifted"]) for w in service.deployments.drift("churn-score")["windows"])
            >= 2
        ),
        60,
        "two drifted windows",
    )
    (fired,) = watcher.tick()
    assert (fired.action, fired.passed, fired.moved) == ("retrained", True, True), fired
    assert fired.trigger is not None
    assert fired.trigger.fields == ("tenure",)
    retrained = service.store.get_run(str(fired.run))
    assert retrained.parameters["w"] == 0.2
    assert service.store.alias_target("train", "production") == (retrained.version, retrained.id)
    assert service.deployments.get("churn-score").from_run == retrained.id
    assert call(deployment.url, {"tenure": 10.0}, token) == (200, {"score": 2.0})
    assert kinds(service, "churn-score") == ["drift", "run", "gate", "promote", "redeploy"]
    assert kinds(service, "train")[-3:] == ["gate", "promote", "redeploy"]
    assert watcher.tick() == []  # the cooldown: no second firing on the same windows

    # When the promoted model then fails on most requests: the next pass rolls it back.
    broken = service.run("churn.ipynb", parameters={"w": 0.3, "broken": True}, function="train")
    result = service.promote("churn.ipynb", "train", to="production", run=broken.id)
    assert result.moved
    statuses = send(deployment.url, token, rng, 120, 20.0)
    assert statuses.count(500) > 60
    wait_for(
        lambda: sum(
            w.errors
            for w in service.store.deployments.windows("churn-score")
        ) > 60,
        30,
        "the errors counted",
    )  # fmt: skip
    (rolled,) = watcher.tick()
    assert (rolled.action, rolled.run) == ("rolled back", retrained.id), rolled
    assert service.store.alias_target("train", "production") == (retrained.version, retrained.id)
    assert service.deployments.get("churn-score").from_run == retrained.id
    assert call(deployment.url, {"tenure": 10.0}, token) == (200, {"score": 2.0})
    rollback = [e for e in service.store.events.timeline("churn-score") if e.source == "loop"][-1]
    assert rollback.kind == "rollback"
    assert "error rate" in str(rollback.message)
    assert watcher.tick() == []  # rolled back once, not again


def test_a_promoted_version_that_breaks_the_live_gate_is_rolled_back(service: MLOps) -> None:
    champion = service.store.alias_target("train", "production")
    assert champion is not None
    deployment, token = service.deployments.deploy(
        "churn.ipynb", "predict", name="churn-score", alias="production", options=FAST
    )
    assert token is not None
    service.policies.set(
        "churn-score",
        notebook="churn.ipynb",
        function="train",
        live_gate="p99_ms <= before + 40 and error_rate <= 0.01",
    )
    rng = random.Random(3)
    send(deployment.url, token, rng, 100, 20.0)
    slow = service.run("churn.ipynb", parameters={"delay": 0.06}, function="train")
    assert service.promote("churn.ipynb", "train", to="production", run=slow.id).moved
    watcher = Watcher(service)
    send(deployment.url, token, rng, 20, 20.0)
    assert watcher.tick() == []  # 20 requests: too few to judge
    assert set(send(deployment.url, token, rng, 50, 20.0)) == {200}  # slower, not failing
    wait_for(
        lambda: sum(w.requests for w in service.store.deployments.windows("churn-score")) >= 170,
        30,
        "the requests counted",
    )
    (rolled,) = watcher.tick()
    assert rolled.action == "rolled back"
    assert rolled.run == champion[1]
    assert "live gate failed: p99_ms" in rolled.message
    assert service.store.alias_target("train", "production") == champion
    assert service.deployments.get("churn-score").from_run == champion[1]


def test_manual_approval_moves_staging_and_watch_once_reports_it(
    service: MLOps, tmp_path: Path
) -> None:
    service.deployments.deploy(
        "churn.ipynb", "predict", name="churn-score", alias="production", options=FAST
    )
    production = service.store.alias_target("train", "production")
    service.policies.set(
        "churn-score",
        notebook="churn.ipynb",
        function="train",
        parameters={"w": "0.5"},
        gate="accuracy >= production",
        approval="manual",
        schedule="1s",
    )
    time.sleep(1.1)
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(tmp_path), "watch", "--once",
         "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), done.stderr
    outcome: dict[str, Any] = json.loads(done.stdout)
    assert outcome["trigger"]["kind"] == "schedule"
    assert (outcome["passed"], outcome["moved"]) == (True, True)
    assert "waiting for a person to promote it to production" in outcome["message"]
    staged = service.store.alias_target("train", "staging")
    assert staged is not None
    assert staged[1] == outcome["run"]
    assert service.store.alias_target("train", "production") == production
    policy = service.policies.get("churn-score")
    assert policy.last_outcome is not None
    assert "waiting for a person" in policy.last_outcome


# -- the Jupyter server runs the policies ----------------------------------------------------


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "churn.ipynb").write_text(json.dumps(CHURN), encoding="utf-8")
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MLOpsExtension": {"policy_interval": 0.5},
    }


async def test_the_jupyter_server_runs_the_policies(mlops_api: MLOpsAPI, jp_root_dir: Path) -> None:
    setup = MLOps(root_dir=str(jp_root_dir))
    try:
        assert setup.run("churn.ipynb", function="train").status == "succeeded"
        setup.promote("churn.ipynb", "train", to="production")
    finally:
        setup.close()
    code, made = await mlops_api(
        "POST", "deployments",
        body={"path": "churn.ipynb", "function": "predict", "name": "churn-score",
              "follow": "production"},
    )  # fmt: skip
    assert code == 201, made
    try:
        assert made["deployment"]["follows"] == "production"
        policy = {
            "notebook": "churn.ipynb", "function": "train", "parameters": {"w": "0.4"},
            "gate": "accuracy >= production", "schedule": "1s",
        }  # fmt: skip
        code, stored = await mlops_api("PUT", "deployments", "churn-score", "policy", body=policy)
        assert (code, stored["gate"], stored["schedule"]) == (200, "accuracy >= production", 1.0)
        deadline = time.monotonic() + 120
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            _, found = await mlops_api("GET", "events", name="churn-score")
            events = [e for e in found["events"] if e["source"] == "loop"]
            if any(e["kind"] == "redeploy" for e in events):
                break
            await asyncio.sleep(0.5)
        assert [e["kind"] for e in events][:5] == ["policy", "run", "gate", "promote", "redeploy"]
        code, shown = await mlops_api("GET", "deployments", "churn-score")
        assert shown["deployment"]["binding"][0]["run"] == events[1]["refs"]["run_id"]
        code, error = await mlops_api(
            "PUT", "deployments", "churn-score", "policy", body={**policy, "gate": "acc >>"}
        )
        assert code == 400
        assert "gate" in error["message"]
    finally:
        await mlops_api("DELETE", "deployments", "churn-score", "policy")
        await mlops_api("POST", "deployments", "churn-score", "stop", body={})

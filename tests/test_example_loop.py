"""The README's loop walkthrough, command by command, on ``examples/churn_loop.ipynb``.

Real processes throughout: the CLI (``run``, ``promote``, ``deploy --follow``, ``policy``,
``drift``, ``watch --once``, ``events``), a real keeper and serving process, and
``examples/traffic.py`` sending HTTP requests. Given the typed-def ``predict`` deployed
following ``production``: stable traffic fires nothing; traffic whose tenure moved drifts
within two windows; ``watch --once`` retrains, the gate passes, ``production`` moves and the
endpoint serves the new run with no failed request among those sent during the rollover; a
gate that fails then leaves everything as it was.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.kernel

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PAUSE = "0.004"  # 250 requests a second at most: several monitoring windows per batch


def mlops(root: Path, *words: str, code: int = 0) -> Any:
    """One CLI command with --json; its parsed output (None when it printed nothing)."""
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *words, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == code, (words, done.stdout[-2000:], done.stderr[-2000:])
    return json.loads(done.stdout) if done.stdout.strip() else None


def traffic(url: str, token: str, count: int, shift: float, seed: int) -> list[str]:
    return [
        sys.executable, str(EXAMPLES / "traffic.py"), url, "--token", token,
        "--requests", str(count), "--shift", str(shift), "--seed", str(seed),
        "--pause", PAUSE, "--json",
    ]  # fmt: skip


def send(url: str, token: str, count: int, shift: float, seed: int) -> dict[str, Any]:
    done = subprocess.run(
        traffic(url, token, count, shift, seed),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def windows(root: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = mlops(root, "drift", "churn-score")["windows"]
    return found


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_the_readme_walkthrough_closes_the_loop(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "churn_loop.ipynb", tmp_path / "churn_loop.ipynb")
    champion = mlops(tmp_path, "run", "churn_loop.ipynb", "--function", "train")
    assert champion["status"] == "succeeded"
    promoted = mlops(
        tmp_path, "promote", "churn_loop.ipynb", "--function", "train", "--to", "production"
    )
    assert promoted["moved"]
    made = mlops(
        tmp_path, "deploy", "churn_loop.ipynb", "--function", "predict", "--name", "churn-score",
        "--follow", "production", "--monitor-interval", "1",
    )  # fmt: skip
    url, token = made["deployment"]["url"], made["token"]
    try:
        assert [f["name"] for f in made["deployment"]["fields"]] == [
            "tenure", "monthly_charges", "support_calls", "contract",
        ]  # fmt: skip
        mlops(
            tmp_path, "policy", "churn-score", "--retrain", "churn_loop.ipynb",
            "--function", "train", "-p", "tenure_shift", "24",
            "--gate", "roc_auc >= production - 0.05", "--after", "2",
        )  # fmt: skip

        # Given stable traffic: judged windows, none drifted, and the loop does nothing.
        assert send(url, token, 700, 0, seed=1)["failed"] == 0
        wait_until(lambda: len(windows(tmp_path)) >= 2, 60, "two judged windows")
        assert not any(w["drifted"] for w in windows(tmp_path))
        assert mlops(tmp_path, "watch", "--once") is None

        # When tenure moves by two years: drift within two windows of 200 requests.
        judged = len(windows(tmp_path))
        assert send(url, token, 800, 24, seed=2)["failed"] == 0
        wait_until(lambda: len(windows(tmp_path)) >= judged + 2, 60, "two more windows")
        later = windows(tmp_path)[judged : judged + 2]
        assert any("tenure" in w["drifted"] for w in later), later

        # Then one pass retrains, gates, promotes and rolls the endpoint over, while
        # traffic keeps coming: not one request fails.
        during = subprocess.Popen(
            traffic(url, token, 1500, 24, seed=3), stdout=subprocess.PIPE, text=True
        )
        outcome = mlops(tmp_path, "watch", "--once")
        sent, _ = during.communicate(timeout=300)
        assert json.loads(sent)["failed"] == 0
        assert (outcome["passed"], outcome["moved"]) == (True, True), outcome
        retrained = outcome["run"]
        shown = mlops(tmp_path, "deployments", "churn-score")["deployment"]
        assert {entry["run"] for entry in shown["binding"]} == {retrained}
        assert {entry["how"] for entry in shown["binding"]} == {"promoted to production"}
        events = mlops(tmp_path, "events", "churn-score")
        loop = [e["kind"] for e in events if e["source"] == "loop"]
        assert loop == ["drift", "run", "gate", "promote", "redeploy"]

        # A gate that fails leaves everything as it was.
        mlops(
            tmp_path, "promote", "churn_loop.ipynb", "--function", "train", "--to",
            "production", "--run", champion["id"], "--gate", "roc_auc >= production + 1",
            code=1,
        )  # fmt: skip
        again = mlops(tmp_path, "deployments", "churn-score")["deployment"]
        assert {entry["run"] for entry in again["binding"]} == {retrained}
    finally:
        mlops(tmp_path, "undeploy", "churn-score")

"""Retraining policies: when one is due (the rule, on drift's own windows), and setting,
showing, listing and removing them through the real CLI against a real deployment (a real
keeper and serving process) in a real SQLite store; every refusal is one line naming what is
wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook

from jupyter_mlops.loop.policy import (
    Policy,
    PolicyError,
    check_policy,
    due,
    format_duration,
    parse_duration,
)
from jupyter_mlops.service import MLOps

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)

TRAINER = make_notebook(
    ("C: float = 1.0\nseed: int = 0\ntenure: float = 1.0", "parameters"),
    ("weight = C * 0.5\naccuracy = 0.8 + seed * 0.001", "mlops:fn:train"),
    ("score = weight * tenure", "mlops:fn:predict"),
)


def window(minutes_ago: float, *drifted: str) -> dict[str, Any]:
    return {"end": (NOW - timedelta(minutes=minutes_ago)).isoformat(), "drifted": list(drifted)}


def policy(**changes: Any) -> Policy:
    base = Policy(deployment="score", notebook="trainer.ipynb", created_at=NOW - timedelta(days=1))
    return Policy(**{**base.__dict__, **changes})


def test_durations_read_and_print_the_same_way() -> None:
    assert [parse_duration(t, "--x") for t in ("90", "90s", "10m", "1h", "2d", "1.5h")] == [
        90.0,
        90.0,
        600.0,
        3600.0,
        172800.0,
        5400.0,
    ]
    assert [format_duration(s) for s in (90, 600, 3600, 172800, 5400)] == [
        "90s",
        "10m",
        "1h",
        "2d",
        "90m",
    ]
    for bad in ("soon", "-1h", "0", "1w"):
        with pytest.raises(PolicyError, match="--cooldown"):
            parse_duration(bad, "--cooldown")


def test_a_policy_fires_after_n_drifted_windows_within_the_period() -> None:
    two = policy(after=2, within=3600)
    assert due(two, [window(30, "tenure")], NOW) is None  # one is not enough
    assert due(two, [window(90, "tenure"), window(5, "plan")], NOW) is None  # one too old
    assert due(two, [window(50, "tenure"), window(40), window(5)], NOW) is None  # stable ones
    fired = due(two, [window(50, "tenure"), window(40), window(5, "tenure", "plan")], NOW)
    assert fired is not None
    assert fired.kind == "drift"
    assert fired.fields == ("plan", "tenure")
    assert len(fired.windows) == 2
    assert "2 drifted window(s) within 1h" in fired.reason


def test_after_firing_it_waits_for_the_cooldown_and_counts_only_newer_windows() -> None:
    windows = [window(50, "tenure"), window(48, "tenure"), window(5, "tenure")]
    cooling = policy(after=2, cooldown=3600, last_fired_at=NOW - timedelta(minutes=45))
    assert due(cooling, windows, NOW) is None  # 45 minutes of a 1 hour cooldown
    cooled = policy(after=2, cooldown=600, last_fired_at=NOW - timedelta(minutes=45))
    assert due(cooled, windows, NOW) is None  # only one drifted window since it fired
    windows.append(window(1, "tenure"))
    fired = due(cooled, windows, NOW)
    assert fired is not None
    assert len(fired.windows) == 2


def test_a_schedule_fires_without_drift_and_a_disabled_policy_never_fires() -> None:
    daily = policy(schedule=86400.0, last_fired_at=NOW - timedelta(hours=23), cooldown=60)
    assert due(daily, [], NOW) is None
    later = policy(schedule=86400.0, last_fired_at=NOW - timedelta(hours=25), cooldown=60)
    fired = due(later, [], NOW)
    assert fired is not None
    assert fired.kind == "schedule"
    assert fired.reason == "every 1d"
    off = policy(enabled=False, after=1)
    assert due(off, [window(1, "tenure")], NOW) is None


def test_policies_that_could_not_be_carried_out_are_refused_by_name() -> None:
    with pytest.raises(PolicyError, match="--approval"):
        check_policy(policy(approval="sometimes"))
    with pytest.raises(PolicyError, match="--after"):
        check_policy(policy(after=0))
    with pytest.raises(PolicyError, match="--function and --sweep"):
        check_policy(policy(function="train", sweep={"C": ["1"]}))
    with pytest.raises(PolicyError, match="nothing is left to approve"):
        check_policy(policy(approval="manual", promote="staging"))
    manual = check_policy(policy(approval="manual"))
    assert manual.target_alias == "staging"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("policy")
    (root / "trainer.ipynb").write_text(json.dumps(TRAINER), encoding="utf-8")
    service = MLOps(root_dir=str(root))
    try:
        assert service.run("trainer.ipynb").status == "succeeded"
        service.deployments.deploy("trainer.ipynb", "predict", name="score")
        yield root
    finally:
        for deployment in service.deployments.every():
            service.deployments.stop(deployment.name)
        service.close()


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.kernel
def test_a_policy_is_set_shown_listed_and_removed_through_the_cli(project: Path) -> None:
    done = cli(
        project,
        "policy",
        "score",
        "--retrain",
        "trainer.ipynb",
        "--sweep",
        "-p C 0.1,1,10",
        "-p",
        "seed",
        "3",
        "--promote",
        "production",
        "--after",
        "3",
        "--cooldown",
        "30m",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["sweep"] == {"C": ["0.1", "1", "10"]}
    assert shown["parameters"] == {"seed": "3"}
    assert (shown["after"], shown["cooldown"], shown["within"]) == (3, 1800.0, 3600.0)
    assert shown["moves"] == "production"
    assert shown["actor"]

    text = cli(project, "policy", "score")
    assert text.returncode == 0, text.stderr
    assert "a sweep -p C 0.1,1,10" in text.stdout
    assert "after 3 drifted window(s) within 1h; cooldown 30m" in text.stdout

    manual = cli(
        project, "policy", "score", "--retrain", "trainer.ipynb", "--function", "train",
        "--approval", "manual", "--json",
    )  # fmt: skip
    assert manual.returncode == 0, manual.stderr
    assert json.loads(manual.stdout)["moves"] == "staging"

    listed = cli(project, "policy", "--json")
    assert [p["deployment"] for p in json.loads(listed.stdout)] == ["score"]
    assert cli(project, "policy", "score", "--remove").returncode == 0
    assert json.loads(cli(project, "policy", "--json").stdout) == []


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["nope", "--retrain", "trainer.ipynb"], "nope"),
        (["score", "--retrain", "missing.ipynb"], "missing.ipynb"),
        (["score", "--retrain", "trainer.ipynb", "--function", "fit"], "'fit'"),
        (["score", "--retrain", "trainer.ipynb", "--sweep", "-p alpha 1,2"], "'alpha'"),
        (["score", "--retrain", "trainer.ipynb", "--sweep", "-p C"], "--sweep"),
        (["score", "--retrain", "trainer.ipynb", "--cooldown", "soon"], "--cooldown"),
        (["score"], "no policy"),
    ],
)
def test_a_policy_that_cannot_be_set_is_a_one_line_error(
    project: Path, args: list[str], named: str
) -> None:
    done = cli(project, "policy", *args)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: "), done.stderr
    assert named in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr

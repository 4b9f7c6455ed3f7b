"""The keeper process seen from a surface: start it, wake it, wait for its outcome, stop it.

Kept apart from ``manager`` because this is process handling (sessions, signals, polling
the store with deadlines), while ``manager`` decides what is wanted (versions, bindings,
tokens, names). Every surface call that changes a deployment ends here, so the rules for
how long to wait and when a keeper counts as gone are in one place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MLOpsError
from ..store.deployment_records import Deployment
from ..store.deployments import DeploymentStore
from ..store.private import open_private_log
from .environment import clean_environment
from .files import DeploymentFiles

WAIT = 150.0  # seconds a call waits for the keeper's outcome
STOP_WAIT = 20.0


def spawn(root: Path, name: str, files: DeploymentFiles, project_env: Mapping[str, str]) -> None:
    """Start the keeper in its own session: it outlives this process and its terminal."""
    files.make()
    args = [sys.executable, "-m", "jupyter_mlops.deploy.keeper", str(root), name]
    # The project travels whole (store, artifacts, state folder): the keeper and its
    # serving processes never re-read config files or guess from the root. Nothing
    # else of ours does: no server secrets (environment.py).
    env = clean_environment(os.environ, **project_env)
    log = open_private_log(files.keeper_log)
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            cwd=root,
            env=env,
        )
    finally:
        os.close(log)
    # Reap it when it exits, so a long-lived server collects no zombies.
    threading.Thread(target=process.wait, daemon=True, name=f"reap-{name}").start()


def wake(deployment: Deployment) -> None:
    """Tell a live keeper to read what is wanted again (SIGUSR1)."""
    assert deployment.keeper_pid is not None
    _signal(deployment.keeper_pid, signal.SIGUSR1)


def stop(rows: DeploymentStore, deployment: Deployment, wait: float) -> None:
    """Wake the keeper (desired is already ``stopped``); kill it if it is alive after ``wait``."""
    if not deployment.keeper_alive():
        return
    assert deployment.keeper_pid is not None
    _signal(deployment.keeper_pid, signal.SIGUSR1)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and rows.get(deployment.name).keeper_alive():
        time.sleep(0.05)
    if rows.get(deployment.name).keeper_alive():
        _signal(deployment.keeper_pid, signal.SIGKILL)


def wait_gone(rows: DeploymentStore, deployment: Deployment, wait: float = STOP_WAIT) -> None:
    """Give a keeper that is giving up time to exit before its row is deleted."""
    deadline = time.monotonic() + wait
    while deployment.keeper_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
        deployment = rows.get(deployment.name)


def await_outcome(rows: DeploymentStore, name: str, generation: int, wait: float) -> Deployment:
    """Wait until the keeper serves ``generation``, reports it failed, or exits."""
    deadline = time.monotonic() + wait
    seen_keeper = False
    while True:
        deployment = rows.get(name)
        if deployment.serving_generation == generation and deployment.status == "running":
            return deployment
        if deployment.failed_generation == generation or (
            deployment.status == "failed" and deployment.generation == generation
        ):
            raise MLOpsError(
                f"{name!r} did not start: {deployment.error or 'see the log'}",
                hint=f"jupyter mlops logs {name}",
            )
        alive = deployment.keeper_alive()
        seen_keeper = seen_keeper or alive
        if seen_keeper and not alive:
            raise MLOpsError(
                f"the keeper of {name!r} exited before it served: "
                f"{deployment.error or 'see its keeper.log'}"
            )
        if time.monotonic() > deadline:
            raise MLOpsError(
                f"{name!r} did not start within {wait:g} s",
                hint=f"jupyter mlops logs {name}",
            )
        time.sleep(0.05)


def being_started(deployment: Deployment) -> bool:
    """A deploy or start call spawned its keeper a moment ago and is waiting for it."""
    age = (datetime.now(timezone.utc) - deployment.updated_at).total_seconds()
    return deployment.status == "starting" and age < WAIT


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


__all__ = [
    "STOP_WAIT",
    "WAIT",
    "await_outcome",
    "being_started",
    "spawn",
    "stop",
    "wait_gone",
    "wake",
]

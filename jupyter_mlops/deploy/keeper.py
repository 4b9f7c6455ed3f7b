"""``python -m jupyter_mlops.deploy.keeper ROOT NAME``: the process that keeps one deployment up.

It binds the deployment's socket once and keeps it open for its whole life; every serving
process it starts inherits it. That is what makes a redeploy lose nothing: the new version
starts accepting on the same socket, then the old one is stopped gracefully (it finishes
the requests it has), and connections that arrive meanwhile wait in the shared backlog.

Each turn of its loop (a few times a second, or at once on SIGUSR1) it:
  - stops everything when the deployment is no longer wanted (or on SIGTERM),
  - starts the wanted generation when it is not the one serving (deploy, redeploy, rollback),
  - restarts a serving process that exited or stopped answering ``/health`` (with backoff;
    too many crashes in a short time mark the deployment failed),
  - moves the serving processes' monitoring windows into the store.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone
from types import FrameType
from typing import Any

from ..project import load_project, project_from_environ
from ..store import Store
from ..store.deployment_records import Deployment
from ..store.owner import this_process
from ..store.private import PRIVATE_UMASK
from . import child as children
from . import leftovers
from .files import DeploymentFiles

logger = logging.getLogger("jupyter_mlops.deploy.keeper")

TURN = 0.25  # seconds between turns of the loop
HEALTH_EVERY = 5.0  # seconds between health checks of the serving process
UNHEALTHY_AFTER = 3  # failed health checks in a row before the process is restarted
MONITOR_EVERY = 2.0  # seconds between moves of monitoring windows into the store
CRASH_WINDOW = 300.0  # seconds
MAX_CRASHES = 5  # crashes within CRASH_WINDOW before the deployment is marked failed


class Keeper:
    def __init__(self, store: Store, files: DeploymentFiles, name: str) -> None:
        self.store = store
        self.files = files
        self.name = name
        self.wake = threading.Event()
        self.stopping = False
        self.child: children.Child | None = None
        self.crashes: deque[float] = deque()
        self.unhealthy = 0
        self.next_health = 0.0
        self.next_monitor = 0.0
        self.retry_at = 0.0

    # -- signals -----------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum != signal.SIGUSR1:
            self.stopping = True
        self.wake.set()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        owner = this_process()
        if not self.store.deployments.claim_keeper(self.name, owner):
            logger.info("another keeper already keeps %s", self.name)
            return 0
        deployment = self.store.deployments.get(self.name)
        # A keeper killed with SIGKILL may have left its serving process: end it (it drains),
        # so this keeper can listen on the port again and serve under its supervision.
        left = leftovers.serving_pids(self.files, deployment.serve_pid)
        if left:
            logger.warning("ending serving processes left by an earlier keeper: %s", left)
            leftovers.end(left)
        try:
            sock = bind(deployment)
        except OSError as err:
            message = f"cannot listen on {deployment.host}:{deployment.port}: {err.strerror}"
            holder = leftovers.port_holder(deployment.port)
            if holder is not None:
                message += f" (held by pid {holder})"
            self._failed(deployment, message)
            self.store.deployments.release_keeper(self.name, owner)
            return 1
        if deployment.port == 0:
            self.store.deployments.report(self.name, port=sock.getsockname()[1])
        logger.info("keeping %s on %s:%d", self.name, deployment.host, sock.getsockname()[1])
        try:
            while self.turn(sock):
                self.wake.wait(TURN)
                self.wake.clear()
        finally:
            self._stop_child("stopped")
            self._move_windows()
            sock.close()
            self.store.deployments.release_keeper(self.name, owner)
        return 0

    def turn(self, sock: socket.socket) -> bool:
        """One turn; False when the keeper should exit."""
        deployment = self.store.deployments.get(self.name)
        if self.stopping or deployment.desired != "running":
            return False
        now = time.monotonic()
        if self.child is not None and not self.child.alive():
            self._crashed(deployment, f"exited with code {self.child.process.returncode}")
            return self._may_continue()
        target = _target(deployment)
        if target is not None and (self.child is None or self.child.generation != target[1]):
            if now >= self.retry_at:
                self._start(deployment, sock, *target)
        elif self.child is not None and now >= self.next_health:
            self.next_health = now + HEALTH_EVERY
            self._check_health(deployment)
            if self.child is None:
                return self._may_continue()
        if now >= self.next_monitor:
            self.next_monitor = now + MONITOR_EVERY
            self._move_windows()
        return self.store.deployments.get(self.name).status != "failed" or self.child is not None

    def _may_continue(self) -> bool:
        return self.store.deployments.get(self.name).status != "failed"

    # -- starting and stopping ---------------------------------------------------------------

    def _start(
        self, deployment: Deployment, sock: socket.socket, version: str, generation: int
    ) -> None:
        """Start ``version`` as ``generation``: the wanted one, or after a crash the one that
        served last when the wanted one failed to start (a failed redeploy)."""
        old = self.child
        if old is None:
            self.store.deployments.report(
                self.name, status="restarting" if deployment.serving_generation else "starting"
            )
        token = self.store.deployments.token_sha256(self.name)
        try:
            new = children.start(deployment, self.files, sock, version, token, generation)
        except children.StartError as err:
            logger.error("generation %d of %s did not start: %s", generation, self.name, err)
            if old is not None:  # the old version keeps serving
                self.store.deployments.report(
                    self.name, failed_generation=generation, error=str(err)
                )
                self.store.deployments.add_event(self.name, "failed", version, str(err))
            elif generation == deployment.generation:
                self._failed(deployment, str(err), generation=generation)
            else:  # the last good version did not come back either: a crash too (backoff)
                self._crashed(deployment, f"did not start again: {err}")
            return
        self.child = new
        if old is not None:
            old.stop()  # after the new one accepts: nothing is refused, in-flight requests end
        self.unhealthy = 0
        self.next_health = time.monotonic() + HEALTH_EVERY
        serving: dict[str, object] = {"serving_generation": generation, "serving_version": version}
        if generation == deployment.generation:  # else the wanted one stays marked failed
            serving.update(failed_generation=None, error=None)
        self.store.deployments.report(
            self.name, status="running", serve_pid=new.pid, started_at=_utcnow(), **serving
        )
        self.store.drift.set_references(
            self.name, new.record.get("references") or {}, new.record.get("reference_source")
        )
        logger.info(
            "%s serves %s (generation %d, pid %d)", self.name, version[:12], new.generation, new.pid
        )

    def _stop_child(self, status: str) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None
        deployment = self.store.deployments.find(self.name)
        if deployment is not None and deployment.status != "failed":
            self.store.deployments.report(self.name, status=status, serve_pid=None)
            # a stop someone asked for: theirs (the row's actor asked for it), not the keeper's
            self.store.deployments.add_event(
                self.name, status, deployment.serving_version, actor=deployment.actor
            )

    def _crashed(self, deployment: Deployment, why: str) -> None:
        logger.error("the serving process of %s %s", self.name, why)
        self.child = None
        now = time.monotonic()
        self.crashes.append(now)
        while self.crashes and self.crashes[0] < now - CRASH_WINDOW:
            self.crashes.popleft()
        self.store.deployments.add_event(self.name, "crashed", deployment.serving_version, why)
        if len(self.crashes) >= MAX_CRASHES:
            message = (
                f"the serving process crashed {len(self.crashes)} times within "
                f"{CRASH_WINDOW / 60:g} minutes; see the log"
            )
            self._failed(deployment, message)
            return
        delay = min(30.0, 0.5 * 2 ** (len(self.crashes) - 1))
        self.retry_at = now + delay
        self.store.deployments.report(
            self.name, status="restarting", restarts=deployment.restarts + 1, serve_pid=None
        )
        self.store.deployments.add_event(
            self.name, "restarted", deployment.serving_version, f"restarting in {delay:g} s"
        )

    def _check_health(self, deployment: Deployment) -> None:
        assert self.child is not None
        url = f"http://{children._loopback(deployment.host)}:{deployment.port}"
        if children.health(url) is not None:
            self.unhealthy = 0
            return
        self.unhealthy += 1
        if self.unhealthy >= UNHEALTHY_AFTER:
            self.child.process.kill()
            self.child.process.wait()
            self._crashed(deployment, f"stopped answering /health ({self.unhealthy} checks)")

    def _failed(self, deployment: Deployment, message: str, generation: int | None = None) -> None:
        self.store.deployments.report(
            self.name, status="failed", error=message, failed_generation=generation, serve_pid=None
        )
        self.store.deployments.add_event(self.name, "failed", deployment.version, message)

    # -- monitoring --------------------------------------------------------------------------

    def _move_windows(self) -> None:
        from ..serve.monitor import merge, take_windows

        windows = take_windows(self.files.monitor)
        if not windows:
            return
        deployment = self.store.deployments.get(self.name)
        keep = int(deployment.options.get("keep_samples") or 1000)
        interval = float(deployment.options.get("monitor_interval") or 5.0)
        # One row per monitoring window (the workers' files of one interval merged), not per
        # move: drift is judged on groups of a few hundred requests, which a move of two
        # seconds' worth of windows of a busy endpoint would overshoot.
        self._adopt_first_served(deployment)  # before the windows that count against it
        for same_interval in _by_interval(windows, interval):
            self.store.deployments.add_window(
                self.name, deployment.serving_version, merge(same_interval), keep_samples=keep
            )

    def _adopt_first_served(self, deployment: Deployment) -> None:
        """Store the prediction reference the workers made of the first predictions served
        (``drift/prediction.py``), once, beside the request fields' references."""
        from ..drift.prediction import (
            FIRST_SERVED_SOURCE,
            is_prediction,
            read_first_served,
            reference_file,
        )

        if not deployment.serving_version:
            return
        references, source = self.store.drift.references(self.name)
        if any(is_prediction(name) for name in references):
            return
        path = reference_file(self.files.monitor, deployment.serving_version, deployment.from_run)
        found = read_first_served(path)
        if found:
            shown = f"{source}; prediction: {FIRST_SERVED_SOURCE}" if source else None
            self.store.drift.set_references(
                self.name, {**references, **found}, shown or f"prediction: {FIRST_SERVED_SOURCE}"
            )


def _by_interval(windows: list[dict[str, Any]], interval: float) -> list[list[dict[str, Any]]]:
    """Windows (oldest first) grouped by the interval they started in."""
    groups: list[list[dict[str, Any]]] = []
    for window in windows:
        start = float(window.get("start") or 0)
        if groups and start - float(groups[-1][0].get("start") or 0) < interval / 2:
            groups[-1].append(window)
        else:
            groups.append([window])
    return groups


def _target(deployment: Deployment) -> tuple[str, int] | None:
    """The (version, generation) to serve: the wanted one, unless it failed to start; then
    the one that served last (a failed redeploy leaves it serving, and restarts it too)."""
    if deployment.failed_generation != deployment.generation:
        return deployment.version, deployment.generation
    if deployment.serving_version and deployment.serving_generation is not None:
        return deployment.serving_version, deployment.serving_generation
    return None


def bind(deployment: Deployment, wait: float = 5.0) -> socket.socket:
    """The deployment's listening socket; a port still held is retried for ``wait`` seconds
    (a process ended a moment ago may still be closing it)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return _bind_once(deployment)
        except OSError as err:
            if err.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _bind_once(deployment: Deployment) -> socket.socket:
    family = socket.AF_INET6 if ":" in deployment.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((deployment.host, deployment.port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_mlops.deploy.keeper")
    parser.add_argument("root")
    parser.add_argument("name")
    parser.add_argument("--store-url", help="(started by hand) the store, else the project's")
    args = parser.parse_args(argv)
    os.umask(PRIVATE_UMASK)  # what the keeper and its serving processes write is owner-only
    # Started by a surface: the project it handed on. By hand: the config files, as the CLI.
    project = project_from_environ() or load_project(
        overrides={"root_dir": args.root, "store_url": args.store_url}, source="keeper arguments"
    )
    files = DeploymentFiles(project, args.name)
    files.make()
    logging.basicConfig(
        filename=files.keeper_log,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [%(process)d] %(message)s",
    )
    # long-lived: a bounded pool (store/database.py)
    store = Store(project.store_url, project.artifacts_dir, project.artifact_url, pooled=True)
    keeper = Keeper(store, files, args.name)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, keeper.on_signal)
    try:
        return keeper.run()
    except Exception:
        logger.exception("the keeper of %s failed", args.name)
        return 1
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())

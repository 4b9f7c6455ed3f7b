"""Deployments that follow an alias: when the alias moves, they serve where it points.

A deployment deployed with an alias records it (the ``alias`` column). After a move,
:func:`redeploy_followers` redeploys each such deployment of that function through the
ordinary deploy path, so the existing zero-loss handover and the one binding rule apply;
a version that cannot start leaves the previous one serving (the deploy path reverts) and
a ``failed`` event records why.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import MLOpsError

if TYPE_CHECKING:
    from ..service import MLOps
    from ..store.deployment_records import Deployment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowOutcome:
    """What one following deployment did after its alias moved."""

    name: str
    version: str
    ok: bool
    error: str | None = None
    run: str | None = None  # the run whose outputs it binds now


def followed_target(service: MLOps, deployment: Deployment) -> tuple[str, str | None]:
    """What a following deployment should serve now: (version, run whose outputs it binds).

    The version is the alias's on the served function when set there (else what serves now);
    the run is the one the alias was promoted with, on the served function or on a function
    its inputs come from (``promote --function train --to production`` moves ``train``).
    """
    assert deployment.alias is not None
    store = service.store
    own = store.alias_target(deployment.function, deployment.alias)
    producers = sorted({entry["function"] for entry in deployment.binding})
    targets = [own] + [store.alias_target(producer, deployment.alias) for producer in producers]
    run = next((target[1] for target in targets if target and target[1]), None)
    return (own[0] if own else deployment.version), run


def redeploy_followers(service: MLOps, function: str, alias: str) -> list[FollowOutcome]:
    """Redeploy every deployment of ``function`` that follows ``alias`` onto where it points.

    Deployments already serving that version and run, stopped ones and ones that follow
    nothing are left alone. Call it right after moving the alias for an immediate rollover.
    """
    outcomes: list[FollowOutcome] = []
    for deployment in service.deployments.every():
        if deployment.function != function or deployment.alias != alias:
            continue
        if deployment.desired != "running":
            continue
        version, run = followed_target(service, deployment)
        if deployment.version == version and (run is None or deployment.from_run == run):
            continue
        try:
            service.deployments.deploy(
                deployment.notebook_path,
                function,
                name=deployment.name,
                alias=alias,
                options=deployment.options,
            )
        except MLOpsError as err:
            log.warning("%s did not follow %s to %s: %s", deployment.name, alias, version, err)
            service.store.deployments.add_event(
                deployment.name,
                "failed",
                version,
                message=f"did not follow {alias!r} to {version[:12]}"
                + (f" (run {run[:12]})" if run else "")
                + f": {err}",
            )
            outcomes.append(FollowOutcome(deployment.name, version, False, str(err), run))
        else:
            outcomes.append(FollowOutcome(deployment.name, version, True, None, run))
    return outcomes


POLL_SECONDS = 2.0  # how late a deployment follows a move made by another process


def reconcile_followers(service: MLOps) -> list[FollowOutcome]:
    """Bring every following deployment onto where its alias points now."""
    followed = {
        (d.function, d.alias)
        for d in service.deployments.every()
        if d.alias is not None and d.desired == "running"
    }
    outcomes: list[FollowOutcome] = []
    for function, alias in sorted(followed):
        assert alias is not None
        outcomes += redeploy_followers(service, function, alias)
    return outcomes


class AliasWatcher:
    """A thread that notices alias moves from any process and reconciles followers.

    It polls the newest alias move every ``interval`` seconds (one cheap query) and, when
    it changed, redeploys the deployments that follow a moved alias.
    """

    def __init__(self, service: MLOps, interval: float = POLL_SECONDS) -> None:
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="mlops-follow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        seen = -1  # reconcile once at start: moves made while nothing watched
        while not self._stop.is_set():
            try:
                newest = self.service.store.last_alias_move()
                if newest != seen:
                    seen = newest
                    reconcile_followers(self.service)
            except Exception:  # the store is unavailable for a moment: try again later
                log.exception("following aliases failed")
            self._stop.wait(self.interval)

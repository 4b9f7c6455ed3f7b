"""Deployments that follow an alias: when the alias moves, they serve where it points.

A deployment deployed with an alias records it (the ``alias`` column). After a move,
:func:`redeploy_followers` redeploys each such deployment of that function through the
ordinary deploy path, so the existing zero-loss handover and the one binding rule apply;
a version that cannot start leaves the previous one serving (the deploy path reverts) and
a ``failed`` event records why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import MLOpsError

if TYPE_CHECKING:
    from ..service import MLOps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowOutcome:
    """What one following deployment did after its alias moved."""

    name: str
    version: str
    ok: bool
    error: str | None = None


def redeploy_followers(service: MLOps, function: str, alias: str) -> list[FollowOutcome]:
    """Redeploy every deployment of ``function`` that follows ``alias`` onto its version.

    Deployments already serving that version, stopped ones and ones that follow nothing
    are left alone. Call it right after moving the alias for an immediate rollover.
    """
    target = service.store.get_version(function, alias).version
    outcomes: list[FollowOutcome] = []
    for deployment in service.deployments.every():
        if deployment.function != function or deployment.alias != alias:
            continue
        if deployment.desired != "running" or deployment.version == target:
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
            log.warning("%s did not follow %s to %s: %s", deployment.name, alias, target, err)
            service.store.deployments.add_event(
                deployment.name,
                "failed",
                target,
                message=f"did not follow {alias!r} to {target[:12]}: {err}",
            )
            outcomes.append(FollowOutcome(deployment.name, target, False, str(err)))
        else:
            outcomes.append(FollowOutcome(deployment.name, target, True))
    return outcomes

"""A deployment's retraining policy, and the one rule for when it is due.

A policy says what to do when a deployment drifts (or on a schedule): run the training
notebook again (the whole notebook, one function, or a sweep), judge the new run against the
champion behind an alias with a gate, and move the alias when it passes (or, in the manual
approval mode, move ``staging`` and leave the last step to a person).

When is it due? After ``after`` judged drift windows within the last ``within`` seconds,
counting only windows that ended after the policy last fired, and never sooner than
``cooldown`` after that; or, with a ``schedule``, when that long has passed since it last
fired (or was set). The windows are drift's own judged windows (``drift/report.py``), so the
policy and ``jupyter mlops drift`` never disagree about which windows drifted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import MLOpsError

APPROVALS = ("auto", "manual")
# The alias a manual-approval policy moves: a person promotes it on (``promote --to``).
STAGING = "staging"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class PolicyError(MLOpsError):
    """A policy that cannot be set as given (the message names the option)."""


def parse_duration(text: str, option: str) -> float:
    """``"90s"``, ``"10m"``, ``"1h"``, ``"2d"`` or plain seconds, as seconds (> 0)."""
    match = _DURATION.match(str(text))
    if match is None:
        raise PolicyError(f"{option}: {text!r} is not a duration (e.g. 90s, 10m, 1h, 2d)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if seconds <= 0:
        raise PolicyError(f"{option}: a duration is more than 0 ({text!r})")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 3600 -> "1h", 90 -> "90s"."""
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Policy:
    """What to do for one deployment, and what the loop remembers of it."""

    deployment: str
    notebook: str
    function: str | None = None
    # A sweep's grid, ``{"C": [0.1, 1, 10]}`` (None: a single run)
    sweep: dict[str, list[Any]] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    gate: str | None = None
    live_gate: str | None = None  # checked after a rollover (``live.py``); failing: rollback
    promote: str = "production"
    approval: str = "auto"
    after: int = 2
    within: float = 3600.0
    cooldown: float = 3600.0
    schedule: float | None = None
    enabled: bool = True
    created_at: datetime | None = None
    actor: str | None = None
    # The loop's memory: when it last fired, and what came of it
    last_fired_at: datetime | None = None
    last_outcome: str | None = None

    @property
    def target_alias(self) -> str:
        """The alias the loop moves: ``staging`` when a person approves the last step."""
        return STAGING if self.approval == "manual" else self.promote

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "notebook": self.notebook,
            "function": self.function,
            "sweep": self.sweep,
            "parameters": self.parameters,
            "gate": self.gate,
            "live_gate": self.live_gate,
            "promote": self.promote,
            "approval": self.approval,
            "moves": self.target_alias,
            "after": self.after,
            "within": self.within,
            "cooldown": self.cooldown,
            "schedule": self.schedule,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "actor": self.actor,
            "last_fired_at": self.last_fired_at.isoformat() if self.last_fired_at else None,
            "last_outcome": self.last_outcome,
        }


def check_policy(policy: Policy) -> Policy:
    """Refuse what the loop could not carry out, naming the option."""
    if policy.approval not in APPROVALS:
        raise PolicyError(f"--approval: {policy.approval!r} is not one of {', '.join(APPROVALS)}")
    if policy.after < 1:
        raise PolicyError(f"--after: at least 1 drifted window, not {policy.after}")
    if policy.function is not None and policy.sweep is not None:
        raise PolicyError("--function and --sweep: give one (a sweep runs the whole notebook)")
    if policy.sweep is not None and not policy.sweep:
        raise PolicyError("--sweep: give at least one parameter and its values")
    if policy.approval == "manual" and policy.promote == STAGING:
        raise PolicyError(f"--promote {STAGING} with --approval manual: nothing is left to approve")
    return policy


@dataclass(frozen=True)
class Trigger:
    """Why the loop starts a retraining now."""

    kind: str  # "drift" or "schedule"
    reason: str
    windows: tuple[str, ...] = ()  # the ends of the drifted windows counted
    fields: tuple[str, ...] = ()  # the fields found drifted in them

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "windows": list(self.windows),
            "fields": list(self.fields),
        }


def due(policy: Policy, windows: Sequence[Mapping[str, Any]], now: datetime) -> Trigger | None:
    """The trigger if ``policy`` is due at ``now``, given drift's judged windows (oldest
    first, each with ``end`` (ISO time) and ``drifted`` (field names)); else None."""
    if not policy.enabled:
        return None
    last = policy.last_fired_at
    if last is not None and (now - last).total_seconds() < policy.cooldown:
        return None
    since = now - timedelta(seconds=policy.within)
    if last is not None and last > since:
        since = last
    counted = [
        window
        for window in windows
        if window.get("drifted") and datetime.fromisoformat(str(window["end"])) > since
    ]
    if len(counted) >= policy.after:
        fields = sorted({str(name) for window in counted for name in window["drifted"]})
        return Trigger(
            kind="drift",
            reason=(
                f"{len(counted)} drifted window(s) within {format_duration(policy.within)} "
                f"(policy: {policy.after}); fields: {', '.join(fields)}"
            ),
            windows=tuple(str(window["end"]) for window in counted),
            fields=tuple(fields),
        )
    if policy.schedule is not None:
        start = last or policy.created_at
        if start is None or (now - start).total_seconds() >= policy.schedule:
            return Trigger(kind="schedule", reason=f"every {format_duration(policy.schedule)}")
    return None

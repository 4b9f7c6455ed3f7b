"""What a deployment measured while it served: the metrics a live gate judges.

A policy's ``--live-gate`` (the gate grammar, ``gate.py``) is checked after a promotion rolled
a deployment over: the left side is what the new version measured since, the alias
``before`` what the previous one measured over the windows before it, e.g.
``"p99_ms <= before + 50 and error_rate <= 0.05"``. When a clause fails, the loop rolls back,
naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .gate import Clause, GateError, parse

# What the monitoring windows hold, per deployment (``store/deployments.py`` Window).
LIVE_METRICS = ("error_rate", "requests", "p50_ms", "p90_ms", "p99_ms", "max_ms")
BEFORE = "before"  # the only alias a live gate may name: the previous version's figures


def check_live_gate(expression: str) -> list[Clause]:
    """The clauses of a live gate; GateError naming a metric or alias it cannot measure."""
    clauses = parse(expression)
    for clause in clauses:
        if clause.metric not in LIVE_METRICS:
            raise GateError(
                f"live gate {expression!r}: {clause.metric!r} is not measured while serving "
                f"(one of {', '.join(LIVE_METRICS)})"
            )
        if clause.alias is not None and clause.alias != BEFORE:
            raise GateError(
                f"live gate {expression!r}: compare with {BEFORE!r} (the version served "
                f"before), not {clause.alias!r}"
            )
    return clauses


def live_metrics(windows: Sequence[Any]) -> dict[str, float]:
    """The metrics of a run of monitoring windows: rates and request-weighted latencies
    (a latency quantile of the whole span is not kept; the weighted mean of the windows'
    is close, and the maximum is exact)."""
    requests = sum(window.requests for window in windows)
    found: dict[str, float] = {"requests": float(requests)}
    if requests:
        found["error_rate"] = sum(window.errors for window in windows) / requests
    for name in ("p50_ms", "p90_ms", "p99_ms"):
        timed = [(getattr(w, name), w.requests) for w in windows if getattr(w, name) is not None]
        weight = sum(count for _, count in timed)
        if weight:
            found[name] = sum(value * count for value, count in timed) / weight
    highest = [window.max_ms for window in windows if window.max_ms is not None]
    if highest:
        found["max_ms"] = max(highest)
    return found

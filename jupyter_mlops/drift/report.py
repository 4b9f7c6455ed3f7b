"""A deployment's drift, from the store alone: per field, the statistic over windows, its
threshold and verdict, and the reference and current histograms.

Monitoring windows are closed by time (every few seconds); drift is judged on windows of a
number of requests (200 by default), so consecutive monitoring windows are added up until
they hold that many. The last, unfinished group is reported as ``pending`` and not judged:
a statistic of a few requests says nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .detect import Detector
from .prediction import is_prediction
from .reference import CategoricalReference, DriftError, NumericReference, Reference, from_dict
from .statistics import shares

if TYPE_CHECKING:
    from ..store.drift_store import DriftWindow

WINDOW_REQUESTS = 200


@dataclass
class _Group:
    start: datetime
    end: datetime
    counts: dict[str, list[int]] = dataclass_field(default_factory=dict)

    @property
    def requests(self) -> int:
        return max((sum(c) for c in self.counts.values()), default=0)


def group_windows(
    windows: Sequence[DriftWindow], references: dict[str, Reference], size: int
) -> tuple[list[_Group], _Group | None]:
    """Monitoring windows added up into groups of at least ``size`` counted requests."""
    groups: list[_Group] = []
    current: _Group | None = None
    for window in windows:
        if current is None:
            current = _Group(window.start, window.end)
        current.end = window.end
        for name, data in window.fields.items():
            reference = references.get(name)
            counts = [int(n) for n in data.get("counts", ())]
            if reference is None or len(counts) != reference.bins:
                continue  # counted against another reference (an older version's)
            into = current.counts.setdefault(name, [0] * reference.bins)
            for i, n in enumerate(counts):
                into[i] += n
        if current.requests >= size:
            groups.append(current)
            current = None
    return groups, current


def drift_report(
    references_data: dict[str, Any],
    source: str | None,
    windows: Sequence[DriftWindow],
    *,
    name: str,
    size: int = WINDOW_REQUESTS,
    mode: str = "calibrated",
) -> dict[str, Any]:
    """The report ``jupyter mlops drift`` prints and ``GET .../drift`` returns."""
    if size < 10:
        raise DriftError(f"a drift window holds 10 requests or more, not {size}")
    references = {field: from_dict(data) for field, data in references_data.items()}
    report: dict[str, Any] = {
        "deployment": name,
        "mode": mode,
        "window_requests": size,
        "reference_source": source,
        "fields": [],
        "windows": [],
        "pending_requests": 0,
    }
    if not references:
        report["message"] = f"{name} has no reference to compare with: " + (
            source or "it has not started since drift was recorded"
        )
        return report
    detector = Detector(references, mode=mode)
    groups, pending = group_windows(windows, references, size)
    report["pending_requests"] = pending.requests if pending else 0
    history: dict[str, list[dict[str, Any]]] = {field: [] for field in references}
    for group in groups:
        results = detector.check(group.counts)
        report["windows"].append(
            {
                "start": group.start.isoformat(),
                "end": group.end.isoformat(),
                "requests": group.requests,
                "drifted": sorted(r.field for r in results if r.drifted),
            }
        )
        for result in results:
            history[result.field].append({"end": group.end.isoformat(), **result.to_dict()})
    last = groups[-1] if groups else None
    for field, reference in references.items():
        points = history[field]
        report["fields"].append(
            {
                "field": field,
                "role": "prediction" if is_prediction(field) else "input",
                "kind": reference.kind,
                "statistic": points[-1]["statistic"] if points else None,
                "value": points[-1]["value"] if points else None,
                "threshold": points[-1]["threshold"] if points else None,
                "drifted": bool(points and points[-1]["drifted"]),
                "drifted_windows": sum(1 for p in points if p["drifted"]),
                "history": points,
                "reference": histogram(reference, list(reference.counts)),
                "current": histogram(reference, last.counts[field])
                if last is not None and field in last.counts
                else None,
            }
        )
    return report


def histogram(reference: Reference, counts: list[int]) -> dict[str, Any]:
    """Bins with their labels and shares, as a chart draws them."""
    if isinstance(reference, NumericReference):
        bounds = [reference.minimum, *reference.edges, reference.maximum]
        labels = [f"{bounds[i]:.4g}..{bounds[i + 1]:.4g}" for i in range(len(bounds) - 1)]
    else:
        assert isinstance(reference, CategoricalReference)
        labels = [*reference.categories, "<other>"]
    return {"labels": labels, "counts": counts, "shares": shares(counts)}


def describe_report(report: dict[str, Any]) -> str:
    """The report as a table for the terminal."""
    lines = [
        f"{report['deployment']}: drift over windows of {report['window_requests']} requests "
        f"({report['mode']}); reference: {report['reference_source']}"
    ]
    if report.get("message"):
        return str(report["message"])
    lines.append(
        f"{len(report['windows'])} window(s) judged, "
        f"{report['pending_requests']} request(s) in the next one"
    )
    lines.append(f"{'field':24} {'statistic':14} {'value':>10} {'threshold':>10}  drifted  windows")
    for item in report["fields"]:
        value = "-" if item["value"] is None else f"{item['value']:.4f}"
        threshold = "-" if item["threshold"] is None else f"{item['threshold']:.4f}"
        lines.append(
            f"{item['field'][:24]:24} {(item['statistic'] or '-'):14} {value:>10} "
            f"{threshold:>10}  {'YES' if item['drifted'] else 'no':7}  "
            f"{item['drifted_windows']}/{len(item['history'])}"
        )
    return "\n".join(lines)

"""Who did what to a function or a deployment: one list, newest first, with actors and times.

Merges the three records that carry an actor: alias moves (``alias_history``), runs, and
deployment events (deployed, redeployed, rolled back, stopped…). A name can be a function,
a deployment or both; a deployment also shows the alias moves and runs of its function, since
they decide what it serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..errors import NotFoundError
from .models import AliasHistoryRow, DeploymentEventRow, DeploymentRow, RunRow, VersionRow

if TYPE_CHECKING:
    from .store import Store


def audit(store: Store, name: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Alias moves, runs and deployment events of ``name``, newest first (at most ``limit``)."""
    entries: list[dict[str, Any]] = []
    with store._db.read() as session:
        deployments = list(
            session.scalars(
                select(DeploymentRow).where(
                    (DeploymentRow.name == name) | (DeploymentRow.function == name)
                )
            )
        )
        functions = {row.function for row in deployments if row.name == name}
        if session.scalar(select(VersionRow.function).where(VersionRow.function == name).limit(1)):
            functions.add(name)
        if not functions and not deployments:
            raise NotFoundError(f"no function or deployment named {name!r}")
        for function in sorted(functions):
            moves = session.scalars(
                select(AliasHistoryRow)
                .where(AliasHistoryRow.function == function)
                .order_by(AliasHistoryRow.moved_at.desc(), AliasHistoryRow.id.desc())
                .limit(limit)
            )
            for move in moves:
                was = f" (was {move.previous[:12]})" if move.previous else ""
                entries.append(
                    _entry(move.moved_at, move.actor, "alias", function,
                           f"{function}@{move.alias} -> {move.version[:12]}{was}")
                )  # fmt: skip
            runs = session.scalars(
                select(RunRow)
                .where(RunRow.function == function)
                .order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(limit)
            )
            entries.extend(_run_entry(run) for run in runs)
        bound = {
            str(entry.get("run"))
            for row in deployments
            if row.name == name and isinstance(row.binding, dict)
            for entry in row.binding.get("inputs", [])
            if isinstance(entry, dict) and entry.get("run")
        }  # the runs whose values the deployment serves
        for run in session.scalars(select(RunRow).where(RunRow.id.in_(bound))):
            if run.function not in functions:
                entries.append(_run_entry(run))
        for deployment in deployments:
            events = session.scalars(
                select(DeploymentEventRow)
                .where(DeploymentEventRow.deployment == deployment.name)
                .order_by(DeploymentEventRow.at.desc(), DeploymentEventRow.id.desc())
                .limit(limit)
            )
            for event in events:
                version = f" {event.version[:12]}" if event.version else ""
                message = f": {event.message}" if event.message else ""
                entries.append(
                    _entry(event.at, event.actor, f"deployment:{event.kind}", deployment.name,
                           f"{deployment.name} {event.kind}{version}{message}")
                )  # fmt: skip
    entries.sort(key=lambda entry: str(entry["at"]), reverse=True)
    return entries[:limit]


def _run_entry(run: RunRow) -> dict[str, Any]:
    function = run.function or run.notebook
    what = f"run {run.id[:12]} of {function} {(run.version or '')[:12]} {run.status}"
    return _entry(run.created_at, run.actor, "run", function, what, run=run.id)


def _entry(
    when: Any, actor: str | None, kind: str, subject: str, what: str, **extra: Any
) -> dict[str, Any]:
    return {
        "at": when.isoformat(),
        "actor": actor,
        "kind": kind,
        "subject": subject,
        "what": what,
        **extra,
    }

"""The loop's event log: every step (drift, run, gate, promote, redeploy, rollback…) with ids.

``record`` is what the gate, ``promote``, the policy loop and the alias followers write;
``timeline`` is what ``events NAME`` reads: the loop events of a deployment or a function,
merged (for a deployment) with its lifecycle events from ``deployment_events``, in time
order. Each entry carries its table (``source``) and that table's id, so "promote 17" and
"deployment 4" name one row each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import or_, select

from ..errors import StoreError
from . import versions
from .database import Database
from .models import AliasHistoryRow, DeploymentEventRow, DeploymentRow, LoopEventRow

LOOP_KINDS = ("drift", "run", "gate", "promote", "redeploy", "rollback", "policy", "error")
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class LoopEvent:
    """One entry of a timeline: a loop event, or (``source`` "deployment") a lifecycle one."""

    id: int
    created_at: datetime
    kind: str
    deployment: str | None = None
    function: str | None = None
    refs: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    actor: str | None = None
    source: str = "loop"  # the table: "loop" (loop_events) or "deployment" (its events)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "kind": self.kind,
            "deployment": self.deployment,
            "function": self.function,
            "refs": dict(self.refs),
            "message": self.message,
            "actor": self.actor,
        }


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _event(row: LoopEventRow) -> LoopEvent:
    return LoopEvent(
        id=row.id,
        created_at=row.created_at,
        kind=row.kind,
        deployment=row.deployment,
        function=row.function,
        refs=dict(row.refs or {}),
        message=row.message,
        actor=row.actor,
    )


def _producers(binding: Any) -> list[str]:
    """The functions a deployment's binding reads from (its ``inputs``' ``function``)."""
    inputs = binding.get("inputs", []) if isinstance(binding, dict) else []
    return [str(entry["function"]) for entry in inputs if isinstance(entry, dict)]


def _check(kind: str, deployment: str | None, function: str | None, limit: int | None) -> None:
    if kind not in LOOP_KINDS:
        raise StoreError(f"not a loop event: {kind!r} (one of {', '.join(LOOP_KINDS)})")
    if deployment is None and function is None:
        raise StoreError(f"a {kind} event names a deployment or a function")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise StoreError(f"--limit must be 1 to {MAX_LIMIT}, not {limit}")


class LoopEventStore:
    """``Store.events``: writes and reads ``loop_events`` (one short session each)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        kind: str,
        *,
        deployment: str | None = None,
        function: str | None = None,
        refs: dict[str, Any] | None = None,
        message: str | None = None,
        actor: str | None = None,
    ) -> LoopEvent:
        """Append one event; ``refs`` holds ids (run_id, version, alias_history, window…)."""
        _check(kind, deployment, function, None)
        with self._db.write() as session:
            row = LoopEventRow(
                created_at=_now(),
                deployment=deployment,
                function=function,
                kind=kind,
                refs=dict(refs or {}),
                message=message,
                actor=actor,
            )
            session.add(row)
            session.flush()
            return _event(row)

    def move_alias(
        self,
        function: str,
        version: str,
        alias: str,
        *,
        refs: dict[str, Any],
        message: str,
        actor: str | None,
        run_id: str | None = None,
        kind: str = "promote",
        deployment: str | None = None,
    ) -> LoopEvent:
        """Move ``alias`` and record the ``promote`` event in one transaction: the log never
        shows a promotion that did not happen, nor misses one that did. ``refs`` gains the
        ``alias_history`` id of the move (None when the alias already pointed there)."""
        versions.check_alias(alias)
        with self._db.write() as session:
            target = versions.resolve_version(session, function, version)
            before = self._last_move(session, function, alias)
            versions.move_alias(session, function, target, alias, _now(), actor, run_id)
            session.flush()
            after = self._last_move(session, function, alias)
            moved = after if after != before else None
            row = LoopEventRow(
                created_at=_now(),
                function=function,
                deployment=deployment,
                kind=kind,
                refs={
                    **refs,
                    "alias": alias,
                    "version": target,
                    "run_id": run_id,
                    "alias_history": moved,
                },
                message=message if moved is not None else f"{message} (it pointed there already)",
                actor=actor,
            )
            session.add(row)
            session.flush()
            return _event(row)

    @staticmethod
    def _last_move(session: Any, function: str, alias: str) -> int | None:
        value = session.scalar(
            select(AliasHistoryRow.id)
            .where(AliasHistoryRow.function == function, AliasHistoryRow.alias == alias)
            .order_by(AliasHistoryRow.id.desc())
            .limit(1)
        )
        return None if value is None else int(value)

    def get(self, event_id: int) -> LoopEvent | None:
        """One loop event by its id (None: no such event)."""
        with self._db.read() as session:
            row = session.get(LoopEventRow, event_id)
            return None if row is None else _event(row)

    def latest(self, function: str, kind: str, **refs: Any) -> LoopEvent | None:
        """The newest ``kind`` event of ``function`` whose refs hold every ``refs`` item."""
        with self._db.read() as session:
            query = (
                select(LoopEventRow)
                .where(LoopEventRow.function == function, LoopEventRow.kind == kind)
                .order_by(LoopEventRow.id.desc())
                .limit(200)  # the promotions of one function: a few; 200 is plenty
            )
            for row in session.scalars(query):
                found = row.refs or {}
                if all(found.get(key) == value for key, value in refs.items()):
                    return _event(row)
        return None

    def timeline(self, name: str | None = None, limit: int = 100) -> list[LoopEvent]:
        """The newest ``limit`` events of a deployment or function (None: of all), oldest
        first; a deployment's lifecycle events are merged in by time."""
        if not 1 <= limit <= MAX_LIMIT:
            raise StoreError(f"--limit must be 1 to {MAX_LIMIT}, not {limit}")
        with self._db.read() as session:
            query = select(LoopEventRow).order_by(LoopEventRow.id.desc()).limit(limit)
            lifecycle: list[LoopEvent] = []
            if name is not None:
                deployment = session.get(DeploymentRow, name)
                if deployment is not None:
                    # Its own events, and the gates and alias moves of the functions it serves
                    # or binds (a promotion by hand names no deployment, yet rolls it over).
                    related = {deployment.function, *_producers(deployment.binding)}
                    query = query.where(
                        or_(
                            LoopEventRow.deployment == name,
                            (LoopEventRow.deployment.is_(None))
                            & LoopEventRow.function.in_(sorted(related))
                            & LoopEventRow.kind.in_(("gate", "promote", "rollback"))
                            & (LoopEventRow.created_at >= deployment.created_at),
                        )
                    )
                    lifecycle = self._lifecycle(session, name, deployment.function, limit)
                else:
                    query = query.where(
                        or_(LoopEventRow.function == name, LoopEventRow.deployment == name)
                    )
            found = [_event(row) for row in session.scalars(query)] + lifecycle
        found.sort(key=lambda event: (event.created_at, event.source != "deployment", event.id))
        return found[-limit:]

    @staticmethod
    def _lifecycle(session: Any, name: str, function: str, limit: int) -> list[LoopEvent]:
        rows = session.scalars(
            select(DeploymentEventRow)
            .where(DeploymentEventRow.deployment == name)
            .order_by(DeploymentEventRow.id.desc())
            .limit(limit)
        )
        return [
            LoopEvent(
                id=row.id,
                created_at=row.at,
                kind=row.kind,
                deployment=name,
                function=function,
                refs={"version": row.version} if row.version else {},
                message=row.message,
                actor=row.actor,
                source="deployment",
            )
            for row in rows
        ]

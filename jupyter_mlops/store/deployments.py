"""Deployments in the store: what each one should serve, what it serves, and how it does.

Two writers share a deployment row and never the same columns: a surface (CLI, magic, REST)
writes what is wanted (version, snapshot, ``desired``, a new ``generation``), the deployment's
keeper process writes what is (status, serving generation and version, pids, restarts, the
last error). Lifecycle events, monitoring windows and request samples hang off the row and
are trimmed as they are added, so the store stays bounded however long a deployment serves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ConflictError, NotFoundError, StoreError
from .atomic import locked
from .database import Database
from .deployment_records import Deployment, DeploymentEvent, Sample, Window
from .models import DeploymentEventRow, DeploymentRow, DeploymentSampleRow, DeploymentWindowRow
from .owner import Owner, is_alive

NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
STATUSES = ("starting", "running", "restarting", "stopped", "failed")
EVENT_KINDS = (
    "deployed",
    "redeployed",
    "replaced",
    "rolled_back",
    "started",
    "restarted",
    "crashed",
    "stopped",
    "failed",
    "restored",
)
KEEP_EVENTS = 500
KEEP_WINDOWS = 5000  # about 7 hours of 5-second windows with traffic
KEEP_SAMPLES = 1000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise StoreError(
            f"{name!r} is not a deployment name",
            hint="lower-case letters, digits and dashes, starting with a letter, at most 63",
        )
    return name


# What each side may write (see the module docstring).
WANTED = {
    "actor",  # who asked for this change
    "version",
    "alias",
    "from_run",
    "binding",
    "options",
    "desired",
    "token_sha256",
    "notebook",  # these three change only when another deployment is replaced
    "notebook_path",
    "function",
}
ACTUAL = {
    "status",
    "serving_generation",
    "serving_version",
    "failed_generation",
    "error",
    "restarts",
    "serve_pid",
    "started_at",
    "port",
}


class DeploymentStore:
    """``store.deployments``: the deployment rows and what hangs off them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        name: str,
        notebook: str,
        notebook_path: str,
        function: str,
        version: str,
        host: str,
        port: int,
        token_sha256: str,
        binding: Sequence[Mapping[str, Any]],
        options: Mapping[str, Any],
        alias: str | None = None,
        from_run: str | None = None,
        actor: str | None = None,
    ) -> Deployment:
        check_name(name)
        now = _now()
        row = DeploymentRow(
            name=name,
            notebook=notebook,
            notebook_path=notebook_path,
            function=function,
            version=version,
            alias=alias,
            from_run=from_run,
            binding={"inputs": [dict(entry) for entry in binding]},
            host=host,
            port=port,
            token_sha256=token_sha256,
            options=dict(options),
            desired="running",
            generation=1,
            status="starting",
            restarts=0,
            created_at=now,
            updated_at=now,
            actor=actor,
        )
        try:
            with self._db.write() as session:
                if session.get(DeploymentRow, name) is not None:
                    raise ConflictError(f"a deployment named {name!r} exists")
                session.add(row)
                session.flush()
                return _record(row)
        except IntegrityError:  # another writer (on PostgreSQL) created it meanwhile
            raise ConflictError(f"a deployment named {name!r} exists") from None

    def get(self, name: str) -> Deployment:
        with self._db.read() as session:
            return _record(_row(session, name))

    def find(self, name: str) -> Deployment | None:
        with self._db.read() as session:
            row = session.get(DeploymentRow, name)
            return None if row is None else _record(row)

    def every(self) -> list[Deployment]:
        with self._db.read() as session:
            rows = session.scalars(select(DeploymentRow).order_by(DeploymentRow.created_at))
            return [_record(row) for row in rows]

    def token_sha256(self, name: str) -> str:
        with self._db.read() as session:
            return _row(session, name).token_sha256

    def want(self, name: str, *, new_generation: bool = True, **wanted: Any) -> Deployment:
        """A surface asks for something: new values of the wanted columns (a new generation)."""
        unknown = set(wanted) - WANTED
        if unknown:
            raise StoreError(f"not a wanted field of a deployment: {', '.join(sorted(unknown))}")
        if "binding" in wanted:
            wanted["binding"] = {"inputs": [dict(entry) for entry in wanted["binding"]]}
        with self._db.write() as session:
            row = _row(session, name, lock=True)
            for key, value in wanted.items():
                setattr(row, key, value)
            if new_generation:
                row.generation += 1
            row.updated_at = _now()
            session.flush()
            return _record(row)

    def report(self, name: str, **actual: Any) -> Deployment:
        """The keeper says what is: status, serving generation, pids, errors."""
        unknown = set(actual) - ACTUAL
        if unknown:
            raise StoreError(f"not an actual field of a deployment: {', '.join(sorted(unknown))}")
        with self._db.write() as session:
            row = _row(session, name, lock=True)
            for key, value in actual.items():
                setattr(row, key, value)
            row.updated_at = _now()
            session.flush()
            return _record(row)

    def claim_keeper(self, name: str, owner: Owner) -> bool:
        """Make ``owner`` the deployment's keeper, unless another live keeper has it."""
        with self._db.write() as session:
            row = _row(session, name, lock=True)
            if row.keeper_pid is not None and row.keeper_host is not None:
                current = Owner(row.keeper_host, row.keeper_pid, row.keeper_start)
                same_host = current.host == owner.host
                if current != owner and same_host and is_alive(current.pid, current.start):
                    return False
            row.keeper_host, row.keeper_pid, row.keeper_start = owner.host, owner.pid, owner.start
            row.updated_at = _now()
            return True

    def release_keeper(self, name: str, owner: Owner) -> None:
        with self._db.write() as session:
            row = locked(session, DeploymentRow, name)
            if row is not None and row.keeper_pid == owner.pid:
                row.keeper_pid = row.keeper_start = row.serve_pid = None
                row.updated_at = _now()

    def delete(self, name: str) -> None:
        with self._db.write() as session:
            session.delete(_row(session, name, lock=True))

    # -- history and monitoring ----------------------------------------------------------

    def add_event(
        self,
        name: str,
        kind: str,
        version: str | None = None,
        message: str | None = None,
        actor: str | None = None,
    ) -> None:
        if kind not in EVENT_KINDS:
            raise StoreError(f"not a deployment event: {kind!r}")
        with self._db.write() as session:
            session.add(
                DeploymentEventRow(
                    deployment=name,
                    at=_now(),
                    kind=kind,
                    version=version,
                    message=message,
                    actor=actor,
                )
            )
            _trim(session, DeploymentEventRow, name, KEEP_EVENTS)

    def events(self, name: str, limit: int = 50) -> list[DeploymentEvent]:
        with self._db.read() as session:
            rows = _newest(session, DeploymentEventRow, name, limit)
            return [DeploymentEvent(r.at, r.kind, r.version, r.message, r.actor) for r in rows]

    def add_window(
        self,
        name: str,
        version: str | None,
        window: Mapping[str, Any],
        keep_samples: int = KEEP_SAMPLES,
    ) -> None:
        """One merged monitoring window and its samples (as ``serve.monitor.merge`` gives)."""
        start = datetime.fromtimestamp(float(window["start"]), timezone.utc)
        end = datetime.fromtimestamp(float(window["end"]), timezone.utc)
        with self._db.write() as session:
            session.add(
                DeploymentWindowRow(
                    deployment=name,
                    version=version,
                    start=start,
                    end=end,
                    requests=int(window.get("requests", 0)),
                    errors=int(window.get("errors", 0)),
                    rejected=int(window.get("rejected", 0)),
                    p50_ms=window.get("p50_ms"),
                    p90_ms=window.get("p90_ms"),
                    p99_ms=window.get("p99_ms"),
                    max_ms=window.get("max_ms"),
                    drift=window.get("drift"),
                )
            )
            for sample in window.get("samples", ())[-keep_samples:]:
                session.add(
                    DeploymentSampleRow(
                        deployment=name,
                        version=version,
                        at=datetime.fromtimestamp(float(sample["at"]), timezone.utc),
                        status=int(sample["status"]),
                        latency_ms=float(sample["latency_ms"]),
                        input=sample.get("input"),
                        output=sample.get("output"),
                    )
                )
            _trim(session, DeploymentWindowRow, name, KEEP_WINDOWS)
            _trim(session, DeploymentSampleRow, name, keep_samples)

    def windows(self, name: str, limit: int = 60) -> list[Window]:
        """The newest ``limit`` windows, oldest first (the order a chart draws them)."""
        with self._db.read() as session:
            rows = _newest(session, DeploymentWindowRow, name, limit)
            return [_window(row) for row in reversed(rows)]

    def samples(self, name: str, limit: int = 20) -> list[Sample]:
        with self._db.read() as session:
            rows = _newest(session, DeploymentSampleRow, name, limit)
            return [
                Sample(r.at, r.version, r.status, r.latency_ms, r.input, r.output) for r in rows
            ]

    def totals(self, name: str, since: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
        """Counts over all time, and the worst window percentiles of the last ``since``."""
        with self._db.read() as session:
            where = DeploymentWindowRow.deployment == name
            counts = session.execute(
                select(
                    func.coalesce(func.sum(DeploymentWindowRow.requests), 0),
                    func.coalesce(func.sum(DeploymentWindowRow.errors), 0),
                    func.coalesce(func.sum(DeploymentWindowRow.rejected), 0),
                ).where(where)
            ).one()
            recent = session.execute(
                select(
                    func.max(DeploymentWindowRow.p50_ms),
                    func.max(DeploymentWindowRow.p90_ms),
                    func.max(DeploymentWindowRow.p99_ms),
                ).where(where, DeploymentWindowRow.end >= _now() - since)
            ).one()
        return {
            "requests": int(counts[0]),
            "errors": int(counts[1]),
            "rejected": int(counts[2]),
            "p50_ms": recent[0],
            "p90_ms": recent[1],
            "p99_ms": recent[2],
            "window_s": int(since.total_seconds()),
        }


def _row(session: Session, name: str, lock: bool = False) -> DeploymentRow:
    """The deployment; ``lock``: for a change, so concurrent writers take turns (atomic.py)."""
    row = locked(session, DeploymentRow, name) if lock else session.get(DeploymentRow, name)
    if row is None:
        raise NotFoundError(f"no deployment named {name!r}")
    return row


def _record(row: DeploymentRow) -> Deployment:
    return Deployment(
        name=row.name,
        notebook=row.notebook,
        notebook_path=row.notebook_path,
        function=row.function,
        version=row.version,
        alias=row.alias,
        from_run=row.from_run,
        binding=list(row.binding.get("inputs", [])),
        host=row.host,
        port=row.port,
        options=dict(row.options),
        desired=row.desired,
        generation=row.generation,
        status=row.status,
        serving_generation=row.serving_generation,
        serving_version=row.serving_version,
        failed_generation=row.failed_generation,
        error=row.error,
        restarts=row.restarts,
        serve_pid=row.serve_pid,
        keeper_host=row.keeper_host,
        keeper_pid=row.keeper_pid,
        keeper_start=row.keeper_start,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        actor=row.actor,
    )


def _window(row: DeploymentWindowRow) -> Window:
    return Window(
        row.start,
        row.end,
        row.version,
        row.requests,
        row.errors,
        row.rejected,
        row.p50_ms,
        row.p90_ms,
        row.p99_ms,
        row.max_ms,
    )


_Child = type[DeploymentEventRow] | type[DeploymentWindowRow] | type[DeploymentSampleRow]


def _newest(session: Session, table: _Child, name: str, limit: int) -> list[Any]:
    query = select(table).where(table.deployment == name).order_by(table.id.desc()).limit(limit)
    return list(session.scalars(query))


def _trim(session: Session, table: _Child, name: str, keep: int) -> None:
    """Delete all but the newest ``keep`` rows of one deployment (by id, one index walk)."""
    session.flush()
    cutoff = session.scalar(
        select(table.id)
        .where(table.deployment == name)
        .order_by(table.id.desc())
        .offset(keep)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(delete(table).where(table.deployment == name, table.id <= cutoff))

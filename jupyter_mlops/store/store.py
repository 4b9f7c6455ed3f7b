"""The run store: runs, metrics, artifacts, versions and sweeps behind one thread-safe object.

Each public method opens its own short session (no Session is ever shared or returned) and
hands back frozen records. Opening a store migrates it if needed, refreshes the planner's
statistics when it has grown, and marks runs whose process died as ``interrupted``.
Artifact bytes are written before (and outside) the transaction that records them, so the
write lock is never held during a long copy and a row never points at a missing blob.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ..actors import actor_name
from ..errors import ConflictError, NotFoundError, StoreError
from . import checks, versions
from .artifact_methods import ArtifactMethods
from .atomic import locked
from .database import Database, parse_url, unavailable
from .deployments import DeploymentStore
from .drift_store import DriftStore
from .lineage import LineageStore
from .listing import Filters, Order, check_limit, page_ids
from .lookup import is_hex_prefix, resolve
from .loop_events import LoopEventStore
from .migrate import ensure_schema, refresh_statistics
from .models import ArtifactRow, RunRow, SweepRow
from .owner import this_process
from .policy_store import PolicyStore
from .reconcile import Reconciler
from .records import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    SWEEP_STRATEGIES,
    AliasMove,
    Artifact,
    Run,
    RunPage,
    Sweep,
    Version,
)
from .remote_artifacts import open_blobs
from .rows import artifact_record, load_run, load_runs, queued_rows, sweep_record
from .upsert import upsert_metrics

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Store(ArtifactMethods):
    """Open (and migrate) the store at ``url``; artifact bytes live under ``artifacts_dir``."""

    def __init__(
        self,
        url: str,
        artifacts_dir: str | Path,
        artifact_url: str | None = None,
        *,
        pooled: bool = True,
    ) -> None:
        """``pooled``: False in a short-lived process (the CLI, a kernel): see ``database.py``."""
        self.url = url
        self.artifact_url = artifact_url or None
        self._blobs = open_blobs(artifact_url, artifacts_dir)  # a remote one caches here
        self.artifacts_dir = self._blobs.root
        try:
            self._db = Database(url, pooled=pooled)
        except OSError as err:  # its folder cannot be made: read-only, disk full
            raise unavailable(parse_url(url), err) from None
        self.deployments = DeploymentStore(self._db)
        self.drift = DriftStore(self._db)
        self.policies = PolicyStore(self._db)
        self.lineage = LineageStore(self._db)  # data sets runs read (``lineage.py``)
        self.events = LoopEventStore(self._db)  # the loop's event log (``loop_events.py``)
        self._reconciler = Reconciler(self._db)  # reads reconcile too, every 2 s at most
        try:
            ensure_schema(self._db)
            refresh_statistics(self._db)
            self._blobs.remove_stale()
            self.reconcile_interrupted()
        except (DBAPIError, OSError) as err:  # read-only, disk full, not a database
            self._db.dispose()
            raise unavailable(self._db.url, err) from None
        except BaseException:
            self._db.dispose()
            raise

    @classmethod
    def for_root(
        cls,
        root: str | Path,
        url: str | None = None,
        artifacts_dir: str | Path | None = None,
        artifact_url: str | None = None,
        *,
        pooled: bool = True,
    ) -> Store:
        """The project's store: its defaults (``project.py``) for what is not given."""
        from ..project import Project

        given = {
            "root_dir": str(root),
            "store_url": url,
            "artifacts_dir": artifacts_dir,
            "artifact_url": artifact_url,
        }
        project = Project.resolve({k: str(v) for k, v in given.items() if v})
        return cls(project.store_url, project.artifacts_dir, project.artifact_url, pooled=pooled)

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._db.url.render_as_string(hide_password=True)!r})"

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        notebook: str,
        function: str | None = None,
        version: str | None = None,
        parameters: Mapping[str, object],
        executor: str = "local",
        sweep_id: str | None = None,
        parent_id: str | None = None,
        idempotency_key: str | None = None,
        inputs: Mapping[str, object] | None = None,
        status: str = "queued",
        actor: str | None = None,
    ) -> tuple[Run, bool]:
        """Record a run; with a known ``idempotency_key``, that run and False instead."""
        checks.text(notebook, "notebook", limit=4096)
        if function is not None:
            checks.text(function, "function")
        if idempotency_key is not None:
            checks.text(idempotency_key, "idempotency_key")
        if status not in ACTIVE_STATUSES:
            raise StoreError(f"a new run is queued or running, not {status!r}")
        owner, now = this_process(), _now()
        row = RunRow(
            id=uuid4().hex,
            notebook=notebook,
            function=function,
            version=version,
            parameters=checks.json_object(parameters, "parameters"),
            status=status,
            created_at=now,
            started_at=now if status == "running" else None,
            executor=checks.text(executor, "executor", limit=64),
            sweep_id=sweep_id,
            parent_id=parent_id,
            host=owner.host,
            pid=owner.pid,
            process_start=owner.start,
            idempotency_key=idempotency_key,
            inputs=checks.json_object(inputs or {}, "inputs"),
            actor=actor_name(actor),
        )
        try:
            with self._db.write() as session:
                if idempotency_key is not None:
                    existing = self._by_key(session, idempotency_key)
                    if existing is not None:
                        return existing, False
                if sweep_id is not None and session.get(SweepRow, sweep_id) is None:
                    raise NotFoundError(f"no sweep with id {sweep_id!r} (for the new run)")
                if parent_id is not None and session.get(RunRow, parent_id) is None:
                    raise NotFoundError(f"no run with id {parent_id!r} (parent of the new run)")
                session.add(row)
                session.flush()
                return self._load(session, [row.id])[0], True
        except IntegrityError as err:
            # Another writer (another process, on PostgreSQL) got the key in first.
            with self._db.read() as session:
                existing = self._by_key(session, idempotency_key) if idempotency_key else None
            if existing is None:
                raise StoreError(f"could not record the run: {err.orig}") from err
            return existing, False

    def create_queued(
        self,
        *,
        notebook: str,
        function: str | None,
        version: str | None,
        parameters: Iterable[Mapping[str, object]],
        sweep_id: str,
        executor: str = "local",
        actor: str | None = None,
    ) -> list[str]:
        """Record runs of a sweep ``queued`` in one transaction; their ids, in order."""
        rows = queued_rows(notebook, function, version, parameters, sweep_id, executor)
        for row in rows:
            row.actor = actor_name(actor)
        with self._db.write() as session:
            if session.get(SweepRow, sweep_id) is None:
                raise NotFoundError(f"no sweep with id {sweep_id!r} (for its runs)")
            session.add_all(rows)
        return [row.id for row in rows]

    def _by_key(self, session: Session, key: str) -> Run | None:
        run_id = session.scalar(select(RunRow.id).where(RunRow.idempotency_key == key))
        return None if run_id is None else self._load(session, [run_id])[0]

    def start_run(self, run_id: str) -> Run:
        """Queued → running, owned by this process (host, pid, process start time)."""
        owner = this_process()
        with self._db.write() as session:
            row = self._run_row(session, run_id)
            if row.status != "queued":
                raise ConflictError(f"run {row.id} is {row.status}; only a queued run can start")
            row.status, row.started_at = "running", _now()
            row.host, row.pid, row.process_start = owner.host, owner.pid, owner.start
            session.flush()
            return load_run(session, row, self.artifacts_dir)

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        error: Mapping[str, object] | None = None,
        metrics: Mapping[str, object] | None = None,
    ) -> Run:
        """Give a run its final status; a run already final is never changed."""
        if status not in FINAL_STATUSES:
            raise StoreError(
                f"cannot finish a run as {status!r}", hint=f"one of {', '.join(FINAL_STATUSES)}"
            )
        with self._db.write() as session:
            row = self._active_row(session, run_id, "finish")
            if metrics:
                upsert_metrics(session, row.id, checks.metrics(metrics, row.id))
            row.status, row.ended_at = status, _now()
            row.error = checks.error(error, row.id)
            session.flush()
            return load_run(session, row, self.artifacts_dir)

    def update_run(
        self,
        run_id: str,
        *,
        inputs: Mapping[str, object] | None = None,
        version: str | None = None,
        worker: str | None = None,
        external_id: str | None = None,
        external_url: str | None = None,
    ) -> Run:
        """Set what the executor learns while the run goes (inputs, version, Dask worker, the
        run's id and page on the system that executes it)."""
        with self._db.write() as session:
            row = self._active_row(session, run_id, "update")
            if inputs is not None:
                row.inputs = checks.json_object(inputs, f"inputs of run {row.id}")
            if version is not None:
                row.version = checks.text(version, f"version of run {row.id}", limit=64)
            if worker is not None:
                row.worker = checks.text(worker, f"worker of run {row.id}", limit=255)
            if external_id is not None:
                row.external_id = checks.text(external_id, f"external id of {row.id}", limit=255)
            if external_url is not None:
                row.external_url = checks.text(external_url, f"url of run {row.id}", limit=4096)
            session.flush()
            return load_run(session, row, self.artifacts_dir)

    def log_metrics(self, run_id: str, metrics: Mapping[str, object]) -> None:
        """Set metrics by name (a name logged again takes the new value)."""
        with self._db.write() as session:
            row = self._active_row(session, run_id, "log metrics of")
            upsert_metrics(session, row.id, checks.metrics(metrics, row.id))

    def get_run(self, run_id: str) -> Run:
        self._reconciler.if_due()
        with self._db.read() as session:
            full = resolve(session, RunRow.id, run_id, "run")
            return self._load(session, [full])[0]

    def list_runs(
        self,
        *,
        notebook: str | None = None,
        function: str | None = None,
        status: str | None = None,
        sweep_id: str | None = None,
        executor: str | None = None,
        order_by: str = "created_at",
        descending: bool = True,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """One page of runs; ``metric:NAME`` order puts runs without that metric last."""
        filters = Filters(notebook, function, status, sweep_id, executor)
        order = Order.parse(order_by, descending)
        check_limit(limit)
        self._reconciler.if_due()
        with self._db.read() as session:
            ids, next_cursor = page_ids(session, filters, order, limit, cursor)
            return RunPage(self._load(session, ids), next_cursor)

    def reconcile_interrupted(self) -> list[str]:
        """Runs (and sweeps) whose owner process on this host has died become ``interrupted``."""
        return self._reconciler.now()

    # -- versions ----------------------------------------------------------------------------

    def register_version(self, function: str, version: str, *, notebook: str, code: str) -> Version:
        """Record a function version (idempotent: the same hash is the same code)."""
        versions.check_version(function, version)
        with self._db.write() as session:
            versions.register(session, function, version, notebook=notebook, code=code, now=_now())
            session.flush()
            return versions.get(session, function, version)

    def get_version(self, function: str, ref: str) -> Version:
        """A version by full hash, alias or unique hash prefix (≥ 4 characters)."""
        with self._db.read() as session:
            return versions.get(session, function, versions.resolve_version(session, function, ref))

    def list_versions(self, function: str) -> list[Version]:
        with self._db.read() as session:
            return versions.newest_first(session, function)

    def set_alias(
        self,
        function: str,
        ref: str,
        alias: str,
        *,
        actor: str | None = None,
        run_id: str | None = None,
    ) -> Version:
        """Point ``alias`` at the version ``ref`` names (and at ``run_id``, a run of that
        version promoted with it), moving it from where it was."""
        versions.check_alias(alias)
        with self._db.write() as session:
            target = versions.resolve_version(session, function, ref)
            versions.move_alias(session, function, target, alias, _now(), actor_name(actor), run_id)
            session.flush()
            return versions.get(session, function, target)

    def alias_target(self, function: str, alias: str) -> tuple[str, str | None] | None:
        """Where ``alias`` of ``function`` points: (version, run id or None), None if unset."""
        with self._db.read() as session:
            return versions.alias_target(session, function, alias)

    def alias_run(self, function: str, alias: str) -> str | None:
        """The run behind ``alias``: the one promoted with it, else (an alias moved by ``tag``,
        which names a version only) the newest succeeded run of that version; None if unset
        or that version never succeeded."""
        target = self.alias_target(function, alias)
        if target is None or target[1] is not None:
            return None if target is None else target[1]
        with self._db.read() as session:
            found = session.scalar(
                select(RunRow.id)
                .where(
                    RunRow.function == function,
                    RunRow.status == "succeeded",
                    RunRow.version == target[0],
                )
                .order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(1)
            )
            return None if found is None else str(found)

    def last_alias_move(self) -> int:
        """A number that changes whenever any alias moves (one indexed query)."""
        with self._db.read() as session:
            return versions.last_move(session)

    def alias_history(self, function: str, alias: str | None = None) -> list[AliasMove]:
        """Every move of the aliases of ``function`` (or of one alias), oldest first."""
        with self._db.read() as session:
            return versions.history(session, function, alias)

    # -- sweeps ------------------------------------------------------------------------------

    def create_sweep(
        self,
        *,
        notebook: str,
        function: str | None,
        strategy: str,
        space: Mapping[str, object],
        select: str | None = None,
    ) -> Sweep:
        checks.text(notebook, "notebook", limit=4096)
        if strategy not in SWEEP_STRATEGIES:
            raise StoreError(
                f"unknown sweep strategy {strategy!r}", hint=f"one of {', '.join(SWEEP_STRATEGIES)}"
            )
        owner = this_process()
        row = SweepRow(
            id=uuid4().hex,
            notebook=notebook,
            function=function,
            strategy=strategy,
            space=checks.json_object(space, "space"),
            select=select,
            status="running",
            created_at=_now(),
            host=owner.host,
            pid=owner.pid,
            process_start=owner.start,
        )
        with self._db.write() as session:
            session.add(row)
            session.flush()
            return sweep_record(row)

    def finish_sweep(self, sweep_id: str, status: str, *, best_run_id: str | None = None) -> Sweep:
        if status not in FINAL_STATUSES:
            raise StoreError(
                f"cannot finish a sweep as {status!r}", hint=f"one of {', '.join(FINAL_STATUSES)}"
            )
        with self._db.write() as session:
            row = locked(session, SweepRow, resolve(session, SweepRow.id, sweep_id, "sweep"))
            assert row is not None
            if row.status != "running":
                raise StoreError(f"sweep {row.id} is already {row.status}")
            if best_run_id is not None:
                row.best_run_id = resolve(
                    session,
                    RunRow.id,
                    best_run_id,
                    f"run of sweep {row.id}",
                    where=RunRow.sweep_id == row.id,
                )
            row.status, row.ended_at = status, _now()
            session.flush()
            return sweep_record(row)

    def get_sweep(self, sweep_id: str) -> Sweep:
        self._reconciler.if_due()
        with self._db.read() as session:
            row = session.get(SweepRow, resolve(session, SweepRow.id, sweep_id, "sweep"))
            assert row is not None
            return sweep_record(row)

    # -- rows to records ---------------------------------------------------------------------

    def _run_row(self, session: Session, run_id: str, lock: bool = True) -> RunRow:
        """The run, locked against other writers until the session ends (``atomic.py``)."""
        text = str(run_id).strip().lower()
        # A whole id (what the runner and the engine pass, several times a run) is looked up
        # by key at once; a prefix is resolved to its one run first.
        full = text if is_hex_prefix(text, 32) and len(text) == 32 else None
        full = full or resolve(session, RunRow.id, run_id, "run")
        row = locked(session, RunRow, full) if lock else session.get(RunRow, full)
        if row is None:
            raise NotFoundError(f"no run with id {full!r}")
        return row

    def _active_row(self, session: Session, run_id: str, action: str, lock: bool = True) -> RunRow:
        row = self._run_row(session, run_id, lock)
        if row.status in FINAL_STATUSES:
            raise ConflictError(
                f"cannot {action} run {row.id}: it is already {row.status}",
                hint="a finished run's record is final",
            )
        return row

    def _artifact(self, row: ArtifactRow) -> Artifact:
        return artifact_record(row, self.artifacts_dir)

    def _load(self, session: Session, ids: Iterable[str]) -> list[Run]:
        return load_runs(session, ids, self.artifacts_dir)

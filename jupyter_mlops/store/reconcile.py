"""Runs left ``queued``/``running`` by a process that died become ``interrupted``.

Only runs owned by this host are judged (another host's processes cannot be seen from
here), and only runs executing here: a run with an external id (a KFP run) goes on without
the process that submitted it, and its followers record how it ends. The update is
conditional on the status and pid read before, so a run that another process started
meanwhile is left alone.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from sqlalchemy import select, update

from .database import Database
from .models import RunRow, SweepRow
from .owner import hostname, is_alive
from .records import ACTIVE_STATUSES

logger = logging.getLogger(__name__)

# Reads look for runs whose owner died at most this often, so every surface that lists or
# shows runs (CLI, sidebar polling, REST) sees them `interrupted` within seconds.
RECONCILE_EVERY = 2.0


class Reconciler:
    """``reconcile`` now, or when a read finds the last time over RECONCILE_EVERY ago."""

    def __init__(self, db: Database, every: float = RECONCILE_EVERY) -> None:
        self.db = db
        self.every = every
        self._lock = threading.Lock()
        self._last = 0.0

    def now(self) -> list[str]:
        with self._lock:
            self._last = time.monotonic()
            return reconcile(self.db)

    def if_due(self) -> None:
        if time.monotonic() - self._last < self.every:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is at it
        try:
            self._last = time.monotonic()
            reconcile(self.db)
        finally:
            self._lock.release()


def reconcile(db: Database) -> list[str]:
    """Mark the dead owners' runs (and sweeps) interrupted; returns the run ids changed."""
    host = hostname()
    with db.read() as session:
        runs = session.execute(
            select(RunRow.id, RunRow.status, RunRow.pid, RunRow.process_start).where(
                RunRow.status.in_(ACTIVE_STATUSES),
                RunRow.host == host,
                RunRow.external_id.is_(None),
            )
        ).all()
        sweeps = session.execute(
            select(SweepRow.id, SweepRow.pid, SweepRow.process_start).where(
                SweepRow.status == "running", SweepRow.host == host
            )
        ).all()
    owners: dict[tuple[int, int | None], bool] = {}  # a sweep's runs share one owner

    def dead(pid: int | None, start: int | None) -> bool:
        if pid is None:
            return False
        if (pid, start) not in owners:
            owners[pid, start] = not is_alive(pid, start)
        return owners[pid, start]

    dead_runs = [r for r in runs if dead(r.pid, r.process_start)]
    dead_sweeps = [s for s in sweeps if dead(s.pid, s.process_start)]
    if not dead_runs and not dead_sweeps:
        return []
    now, done = datetime.now(timezone.utc), []
    with db.write() as session:
        connection = session.connection()
        for run in dead_runs:
            changed = connection.execute(
                update(RunRow)
                .where(
                    RunRow.id == run.id,
                    RunRow.status == run.status,
                    RunRow.pid == run.pid,
                )
                .values(
                    status="interrupted",
                    ended_at=now,
                    error={
                        "cell": None,
                        "ename": "Interrupted",
                        "evalue": f"process {run.pid} on {host} ended while the run was "
                        f"{run.status}",
                    },
                )
            )
            if changed.rowcount:
                done.append(run.id)
        for sweep in dead_sweeps:
            connection.execute(
                update(SweepRow)
                .where(SweepRow.id == sweep.id, SweepRow.status == "running")
                .values(status="interrupted", ended_at=now)
            )
    if done:
        logger.warning("marked %d run(s) interrupted: their process ended", len(done))
    return done

"""Runs left ``queued``/``running`` by a process that died become ``interrupted``.

Only runs owned by this host are judged (another host's processes cannot be seen from
here). The update is conditional on the status and pid read before, so a run that another
process started meanwhile is left alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import select, update

from .database import Database
from .models import RunRow, SweepRow
from .owner import hostname, is_alive
from .records import ACTIVE_STATUSES

logger = logging.getLogger(__name__)


def reconcile(db: Database) -> list[str]:
    """Mark the dead owners' runs (and sweeps) interrupted; returns the run ids changed."""
    host = hostname()
    with db.read() as session:
        runs = session.execute(
            select(RunRow.id, RunRow.status, RunRow.pid, RunRow.process_start).where(
                RunRow.status.in_(ACTIVE_STATUSES), RunRow.host == host
            )
        ).all()
        sweeps = session.execute(
            select(SweepRow.id, SweepRow.pid, SweepRow.process_start).where(
                SweepRow.status == "running", SweepRow.host == host
            )
        ).all()
    dead_runs = [r for r in runs if r.pid is not None and not is_alive(r.pid, r.process_start)]
    dead_sweeps = [s for s in sweeps if s.pid is not None and not is_alive(s.pid, s.process_start)]
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

"""Bring a store's schema to the newest revision, cheaply when it already is there.

Every CLI command opens the store, so the common case costs one query on ``alembic_version``
and never imports Alembic. Otherwise the upgrade runs under a lock that also works across
processes (SQLite: ``BEGIN IMMEDIATE``, the database's own write lock; PostgreSQL: a
transaction-scoped advisory lock), re-checks the revision inside it and migrates in that same
transaction, so two processes opening a new store at once migrate it once, and a failed
migration leaves the store at its previous revision. ``ANALYZE`` follows, because SQLite's
planner picks full scans over good indexes when it has no statistics.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..errors import StoreError
from .database import Database

logger = logging.getLogger(__name__)

HEAD = "0009"
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x6D6C6F7073  # "mlops"
ANALYZE_ROWS = 1000  # below this many runs the planner does fine without statistics
ANALYZE_GROWTH = 2.0  # re-analyze when the runs table has grown this much since last time


def current_revision(db: Database) -> str | None:
    """The store's revision, or None for a new (empty) database. One query."""
    try:
        with db.engine.connect() as connection:
            return _revision(connection)
    except DBAPIError:
        return None  # no alembic_version table yet


def _revision(connection: Connection) -> str | None:
    value = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if value is None else str(value)


def ensure_schema(db: Database) -> bool:
    """Migrate to HEAD if needed; True when this call ran migrations."""
    if current_revision(db) == HEAD:
        return False
    return upgrade(db, HEAD)


def upgrade(db: Database, target: str = HEAD) -> bool:
    """Upgrade to ``target`` under the migration lock; True when something was migrated."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    with db.writer.connect() as connection, connection.begin():
        if db.url.get_backend_name() == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        exists = inspect(connection).has_table("alembic_version")
        revision = _revision(connection) if exists else None
        if revision == target:
            return False  # another process migrated while we waited for the lock
        if revision is not None:
            try:
                scripts.get_revision(revision)
            except CommandError:
                raise StoreError(
                    f"the store {db.url.render_as_string(hide_password=True)} is at revision "
                    f"{revision}, which this jupyter_mlops does not know (newest: {HEAD})",
                    hint="upgrade jupyter_mlops, or point it at another store",
                ) from None
        logger.info("migrating store from revision %s to %s", revision or "(new)", target)
        config.attributes["connection"] = connection
        command.upgrade(config, target)
        analyze(connection, db)
    return True


def analyze(connection: Connection, db: Database) -> None:
    """Refresh the planner's statistics (SQLite and PostgreSQL; others keep their own)."""
    backend = db.url.get_backend_name()
    if backend == "sqlite":
        connection.exec_driver_sql("ANALYZE")
    elif backend == "postgresql":
        connection.exec_driver_sql("ANALYZE runs, metrics, artifacts")


def refresh_statistics(db: Database) -> bool:
    """ANALYZE a SQLite store that has grown a lot since its statistics were taken.

    Two index lookups on open: the run count SQLite recorded at the last ANALYZE and the
    highest rowid of ``runs`` (close to the number of runs, since runs are never deleted).
    """
    if not db.is_sqlite:
        return False
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT max(rowid) FROM runs").scalar() or 0
        if rows < ANALYZE_ROWS:
            return False
        try:
            stat = connection.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1"
            ).scalar()
        except DBAPIError:
            stat = None
    analyzed = int(str(stat).split()[0]) if stat else 0
    if rows < analyzed * ANALYZE_GROWTH:
        return False
    logger.info("store has %d runs (statistics taken at %d): running ANALYZE", rows, analyzed)
    with db.writer.connect() as connection, connection.begin():
        analyze(connection, db)
    return True

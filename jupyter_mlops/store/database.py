"""The engine and its sessions: one short session per call, safe from many threads.

SQLite is tuned on every new connection (WAL, a 30 s busy timeout, foreign keys, NORMAL
sync) and its transactions are begun by us: reads with a plain ``BEGIN`` (a consistent
snapshot that never blocks writers in WAL mode), writes with ``BEGIN IMMEDIATE``, which takes
the write lock up front. A deferred transaction that reads and then writes can fail at once
with "database is locked" when another writer got in between; an immediate one just waits
its turn, so that error never reaches a caller.

A database server (PostgreSQL) is shared by every process of a team, so how many connections
a process keeps is decided by what kind of process it is, given as ``Database(url,
pooled=...)``: a long-lived one (the Jupyter server, a deployment's keeper) keeps a small
bounded pool, pinged before use and recycled, so a burst of requests waits for a connection
rather than opening hundreds; a short-lived one (the CLI, a notebook kernel's ``%mlops``)
opens a connection per session and closes it (``NullPool``), so it holds nothing idle between
commands or after it returns. A SQLite file is opened in-process either way. A server that
cannot be reached or went down is a ``StoreUnavailableError`` (the REST API's 503), never a
driver's traceback; errors of one transaction (a deadlock) stay what they are.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool

from ..errors import StoreError, StoreUnavailableError
from .private import private_file

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 30
_IMMEDIATE = "mlops_immediate"

# A long-lived process's pool on a database server: at most POOL_SIZE + MAX_OVERFLOW
# connections, the overflow closed when returned; a caller waits POOL_TIMEOUT_SECONDS at most.
POOL_SIZE = 4
MAX_OVERFLOW = 6
POOL_TIMEOUT_SECONDS = 30
POOL_RECYCLE_SECONDS = 1800  # below the idle timeouts of common proxies and firewalls
CONNECT_TIMEOUT_SECONDS = 10

# The driver each server backend needs, and the extra that installs it.
_DRIVERS = {"postgresql": ("psycopg", "postgres")}


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as err:
        raise StoreError(f"store URL {url!r} is not a SQLAlchemy URL: {err}") from None


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (None: not SQLite, or in memory)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def unavailable(url: URL, error: BaseException, doing: str = "opened") -> StoreUnavailableError:
    """The one-line error for a store that cannot be opened: which file, why, what to do.

    ``error`` is an OSError (creating the folder) or a DB-API error in SQLite's own words
    ("attempt to write a readonly database", "database or disk is full", "file is not a
    database", "disk I/O error": what a write gets on a full tmpfs).
    """
    path = sqlite_file(url)
    where = str(path) if path is not None else url.render_as_string(hide_password=True)
    reason = _reason(error)
    advice = _advice(error, path) or (
        "check that it is reachable and writable"
        if path is not None or url.get_backend_name() == "sqlite"
        else "check that the database server is running and reachable from here"
    )
    return StoreUnavailableError(f"the store {where} cannot be {doing} ({reason}): {advice}")


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None)  # SQLAlchemy wraps the driver's error
    if original is not None:
        text = str(original)
    elif isinstance(error, OSError):
        text = error.strerror or str(error)
    else:
        text = str(error)
    return " ".join(text.split())  # one line: psycopg adds a tab-indented second one


def server_unavailable(error: BaseException) -> bool:
    """A database server's error that no retry of the request fixes: it cannot be reached or
    was shut down (SQLSTATE class 08, 57P0x; no SQLSTATE: the connection never opened), or it
    is out of resources (class 53: disk full, too many connections). Not a deadlock or a
    serialization failure, which are errors of one transaction."""
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code is None or str(code).startswith(("08", "53", "57P0"))


def _advice(error: BaseException, path: Path | None) -> str | None:
    """What to do about a store fault; None when ``error`` is not one (a busy database)."""
    words = _reason(error).lower()
    number = error.errno if isinstance(error, OSError) else None
    if (
        number in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        or "full" in words
        or ("i/o" in words and path is not None and _nearly_full(path))
    ):
        return "the disk is full; free space on the disk that holds it, then try again"
    if number in (errno.EROFS, errno.EACCES, errno.EPERM) or any(
        word in words for word in ("readonly", "read-only", "unable to open")
    ):
        return "make the file and its folder writable, or point MLOps.store_url elsewhere"
    if any(word in words for word in ("not a database", "malformed", "corrupt")):
        return "move it aside (a new store is created) or restore it from a backup"
    if "i/o" in words:
        return "check the disk that holds it"
    return None


def _nearly_full(path: Path) -> bool:
    """Less than 1 MiB free where the store lives (SQLite reports a full disk as I/O)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        info = os.statvfs(folder)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 1024 * 1024


class Database:
    """An engine plus two session factories (reads, writes) over one connection pool.

    ``pooled``: True in a long-lived process (a bounded pool), False in a short-lived one
    (no pool: nothing held idle); see the module docstring.
    """

    def __init__(self, url: str, *, pooled: bool = True) -> None:
        self.url = parse_url(url)
        if self.url.drivername == "postgresql":  # SQLAlchemy's default there is psycopg 2
            self.url = self.url.set(drivername="postgresql+psycopg")
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.pooled = pooled
        self.engine = self._create_engine()
        writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self.writer: Engine = writer
        self._reads = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._writes = sessionmaker(writer, expire_on_commit=False, autoflush=False)

    def _create_engine(self) -> Engine:
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            path = sqlite_file(self.url)
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
            if path is None:
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
            else:
                private_file(path)  # before SQLite does: its -wal and -shm files copy the mode
                kwargs.update(pool_size=8, max_overflow=24, pool_timeout=BUSY_TIMEOUT_SECONDS)
        else:
            kwargs.update(self._server_options())
        try:
            engine = create_engine(self.url, **kwargs)
        except ImportError as err:  # the URL's driver is not installed
            raise _missing_driver(self.url, err) from None
        if self.is_sqlite:
            event.listen(engine, "connect", _tune_sqlite)
            event.listen(engine, "begin", _begin_sqlite)
        return engine

    def _server_options(self) -> dict[str, Any]:
        """A database server's engine options: the pool (or none) and a connect timeout."""
        options: dict[str, Any] = {"poolclass": NullPool}
        if self.pooled:
            options = {
                "pool_size": POOL_SIZE,
                "max_overflow": MAX_OVERFLOW,
                "pool_timeout": POOL_TIMEOUT_SECONDS,
                "pool_recycle": POOL_RECYCLE_SECONDS,
                "pool_pre_ping": True,  # a server restart, a dropped idle connection: reconnect
            }
        if self.url.get_backend_name() == "postgresql" and "connect_timeout" not in self.url.query:
            # an unreachable host fails in seconds, not after the OS's TCP timeout (minutes)
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        return options

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session: a consistent snapshot, rolled back at the end."""
        try:
            with self._reads() as session:
                yield session
        except OperationalError as err:  # a database server gone: one clear error (503)
            if self.is_sqlite or not server_unavailable(err):
                raise
            raise unavailable(self.url, err, "read") from None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write session: committed at the end unless it raises."""
        try:
            with _queued(self._write_queue()), self._writes.begin() as session:
                yield session
        except OperationalError as err:  # a full disk, a read-only file: one clear error
            if self.is_sqlite:
                if _advice(err, sqlite_file(self.url)) is None:
                    raise  # anything else (a lock held too long) stays what it is
            elif not server_unavailable(err):
                raise  # a deadlock, a serialization failure: the transaction's own error
            raise unavailable(self.url, err, "written") from None

    def _write_queue(self) -> threading.RLock | None:
        """On a SQLite file, this process's writers take turns on a lock of their own first.

        SQLite has one writer at a time; a second ``BEGIN IMMEDIATE`` finds the file locked
        and its busy handler *sleeps* (1, 2, 5, 10... ms) before trying again, though the
        first writer is done in a fraction of a millisecond. Two threads of a sweep recording
        runs paid that on every collision; waiting on a lock wakes the next one at once.
        Other processes still meet at SQLite's own lock, as before."""
        path = sqlite_file(self.url) if self.is_sqlite else None
        if path is None:
            return None
        key = os.path.realpath(path)
        with _WRITE_QUEUES_GUARD:
            return _WRITE_QUEUES.setdefault(key, threading.RLock())

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _queued(queue: threading.RLock | None) -> Iterator[None]:
    """Wait for this process's turn, as long as SQLite itself would wait (its busy timeout);
    past that, go on to SQLite, which then reports the lock held too long as it always did."""
    if queue is None:
        yield
        return
    mine = queue.acquire(timeout=BUSY_TIMEOUT_SECONDS)
    try:
        yield
    finally:
        if mine:
            queue.release()


# One lock per SQLite file this process writes (see Database._write_queue).
_WRITE_QUEUES: dict[str, threading.RLock] = {}
_WRITE_QUEUES_GUARD = threading.Lock()
# A forked child (a process pool's worker) starts with none: one held by another thread at
# the fork would never be released there.
os.register_at_fork(after_in_child=_WRITE_QUEUES.clear)


def _missing_driver(url: URL, error: ImportError) -> StoreError:
    backend = url.get_backend_name()
    driver, extra = _DRIVERS.get(backend, (error.name or url.get_driver_name(), None))
    where = url.render_as_string(hide_password=True)
    install = f"pip install 'jupyter-mlops[{extra}]'" if extra else f"pip install {driver}"
    return StoreError(
        f"the store {where} needs the {driver} driver, which is not installed",
        hint=f"install it: {install}",
    )


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event start transactions (pysqlite's own BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() not in ("wal", "memory"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

"""A throw-away PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` in a temp folder.

Debian's PostgreSQL binaries (``apt-get install postgresql``; ``.ci/run`` installs them) serve
on a Unix socket only, never on a TCP port, so nothing is shared with other processes or
machines. ``initdb`` refuses to run as root: as root the cluster runs as the ``postgres``
system user (via ``runuser``), in folders that user owns. Each test gets its own database.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)


def _bin(name: str) -> str | None:
    """A PostgreSQL program: Debian's versioned folder first (its ``pg_ctl`` is not on PATH)."""
    for initdb in _BINARIES:
        candidate = initdb.parent / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


class PostgresCluster:
    """One running cluster; ``url(db)`` names a database on its socket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.socket = root / "socket"
        self.log = root / "server.log"
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as `postgres`
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, *command], capture_output=True, text=True, timeout=120, check=False
        )

    def start(self) -> None:
        self.socket.mkdir(parents=True)
        if self._as_user:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket, "postgres")
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        assert initdb
        assert pg_ctl
        done = self._run(
            initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-locale",
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
        options = (
            f"-k {self.socket} -c listen_addresses='' -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=200"
        )
        done = self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.log),
                         "-w", "-t", "60", "start")  # fmt: skip
        if done.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr or done.stdout}\n{log}")

    def stop(self) -> None:
        pg_ctl = _bin("pg_ctl")
        if pg_ctl and self.data.exists():
            self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket}"

    def create_database(self, prefix: str = "test") -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(host=str(self.socket), user="postgres", dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def available() -> str | None:
    """Why a cluster cannot start here (None: it can)."""
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        return "PostgreSQL is not installed (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install jupyter-mlops[postgres])"
    return None


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """Start a cluster in a temp folder, and stop and remove it at the end."""
    missing = available()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test on PostgreSQL: {missing}")
        pytest.skip(missing)
    root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    cluster = PostgresCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

"""A throw-away PostgreSQL cluster for the benchmarks (tests/postgres.py's), when wanted.

Where PostgreSQL is not installed or the cluster cannot start, the PostgreSQL columns are
skipped with the reason printed, never faked.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import postgres  # type: ignore[import-not-found]  # noqa: E402


@contextmanager
def cluster_if_wanted(wanted: list[str]) -> Iterator[Any]:
    """A running throw-away PostgreSQL cluster when it is wanted and can start (else None)."""
    if "postgresql" not in wanted:
        yield None
        return
    missing = postgres.available()
    if missing is not None:
        print(f"postgresql: skipped, {missing}")
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="mlops-bench-pg-"))
    cluster = postgres.PostgresCluster(folder)
    try:
        try:
            cluster.start()
        except RuntimeError as err:  # initdb or pg_ctl failed: its message says why
            print(f"postgresql: skipped, {err}")
            yield None
            return
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)

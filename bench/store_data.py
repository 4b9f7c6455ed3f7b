"""The run store benchmark's data: generated once per bench run, bulk-loaded into each backend.

``generate`` yields batches of plain tuples (five functions, mixed statuses, three metrics and
one artifact a run) from one seeded random stream, so a 100,000-run store is exactly the first
100,000 runs of the 1,000,000-run one and growing a store just loads the next batches. Each
batch goes to every backend before the next one is made: the set is generated once, never
held whole in memory.

Loading bypasses the ORM on purpose (it is 5-10x slower per row and only the queries are
measured): SQLite gets ``executemany`` on its own driver, PostgreSQL gets ``COPY``. As
``pg_restore`` does, a load drops the tables' secondary (``ix_``) indexes first and builds
them again from their own definitions afterwards: building an index by sorting is many times
faster than updating it row by row, and the store ends with exactly the indexes it had. Values
are written in the forms SQLAlchemy writes and reads (JSON text; SQLite times as naive UTC
text, PostgreSQL times as ``timestamptz``), so the Store reads the rows as its own.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

FUNCTIONS = ("load", "clean", "features", "train", "evaluate")
STATUSES = ("succeeded",) * 7 + ("failed", "cancelled", "interrupted")
METRICS = ("accuracy", "loss", "f1")
BATCH = 20_000

RUN_COLUMNS = (
    "id", "notebook", "function", "version", "parameters", "status", "created_at",
    "started_at", "ended_at", "executor", "host", "pid", "inputs",
)  # fmt: skip
RUN_TIMES = (6, 7, 8)  # positions of the datetimes in a run tuple
METRIC_COLUMNS = ("run_id", "name", "value")
ARTIFACT_COLUMNS = ("id", "run_id", "name", "kind", "sha256", "size", "created_at")
ARTIFACT_TIMES = (6,)
TABLES = ("runs", "metrics", "artifacts")
VERSIONS = tuple(f"{i:064x}" for i in range(16))  # each function's runs cycle through these


@dataclass
class Batch:
    """Rows of runs, metrics and artifacts, in the column orders above."""

    runs: list[tuple[Any, ...]] = field(default_factory=list)
    metrics: list[tuple[Any, ...]] = field(default_factory=list)
    artifacts: list[tuple[Any, ...]] = field(default_factory=list)


def generate(sizes: list[int], seed: int = 0) -> Iterator[Batch]:
    """``max(sizes)`` finished runs in batches of at most ``BATCH`` runs that end at each size."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    blobs = VERSIONS
    ends = sorted(set(sizes))
    offset = 0
    while offset < ends[-1]:
        end = min(offset + BATCH, next(size for size in ends if size > offset))
        batch = Batch()
        for index in range(offset, end):
            run_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            function = FUNCTIONS[index % len(FUNCTIONS)]
            status = rng.choice(STATUSES)
            created = start + timedelta(seconds=index * 7)
            parameters = {"alpha": rng.random(), "epochs": rng.randint(1, 50)}
            batch.runs.append(
                (
                    run_id, f"project/nb{index % 3}.ipynb", function, blobs[index % len(blobs)],
                    json.dumps(parameters), status, created, created + timedelta(seconds=1),
                    created + timedelta(seconds=5), "local", "bench", 1, "{}",
                )
            )  # fmt: skip
            if status != "interrupted":
                for name in METRICS:
                    batch.metrics.append((run_id, name, round(rng.random(), 4)))
            artifact_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            batch.artifacts.append(
                (
                    artifact_id, run_id, f"{function}/model", "model", blobs[index % len(blobs)],
                    1024, created + timedelta(seconds=4),
                )
            )  # fmt: skip
        offset = end
        yield batch


class SqliteLoader:
    """Appends batches to a migrated SQLite store through the ``sqlite3`` driver."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA synchronous = OFF")  # a bulk load, not a user's write
        # Random run ids land all over the primary key: a page cache of 2 MB (the default)
        # would write and re-read its pages for every batch.
        self.connection.execute("PRAGMA cache_size = -524288")  # 512 MiB
        self.connection.execute("PRAGMA temp_store = MEMORY")  # index builds sort in memory
        self._indexes: list[tuple[str, str]] = []

    def begin(self) -> None:
        """Drop the secondary indexes, remembering how they were made."""
        marks = ", ".join("?" * len(TABLES))
        self._indexes = self.connection.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix\\_%' "
            f"ESCAPE '\\' AND tbl_name IN ({marks})",
            TABLES,
        ).fetchall()
        for name, _sql in self._indexes:
            self.connection.execute(f'DROP INDEX "{name}"')

    def end(self) -> None:
        """Build the dropped indexes again."""
        for _name, sql in self._indexes:
            self.connection.execute(sql)
        self._indexes = []

    def load(self, batch: Batch) -> None:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            for table, columns, rows, times in (
                ("runs", RUN_COLUMNS, batch.runs, RUN_TIMES),
                ("metrics", METRIC_COLUMNS, batch.metrics, ()),
                ("artifacts", ARTIFACT_COLUMNS, batch.artifacts, ARTIFACT_TIMES),
            ):
                marks = ", ".join("?" * len(columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    (_sqlite_times(row, times) for row in rows),
                )
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.connection.close()


def _sqlite_times(row: tuple[Any, ...], positions: tuple[int, ...]) -> tuple[Any, ...]:
    """SQLAlchemy's SQLite form of the store's UTC times: naive, fixed-width text."""
    if not positions:
        return row
    values = list(row)
    for position in positions:
        values[position] = values[position].strftime("%Y-%m-%d %H:%M:%S.%f")
    return tuple(values)


class PostgresLoader:
    """Appends batches to a migrated PostgreSQL store with ``COPY ... FROM STDIN``."""

    def __init__(self, socket: Path, database: str) -> None:
        import psycopg

        self.connection = psycopg.connect(host=str(socket), user="postgres", dbname=database)
        self.connection.execute("SET maintenance_work_mem = '256MB'")  # index builds in memory
        # No foreign-key trigger per row (the rows are consistent by construction), as
        # pg_restore's --disable-triggers; the bench's own cluster runs it as a superuser.
        self.connection.execute("SET session_replication_role = replica")
        self.connection.commit()
        self._indexes: list[tuple[str, str]] = []

    def begin(self) -> None:
        """Drop the secondary indexes, remembering how they were made."""
        self._indexes = [
            (str(name), str(sql))
            for name, sql in self.connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix\\_%%' "
                "AND tablename = ANY(%s)",
                [list(TABLES)],
            )
        ]
        for name, _sql in self._indexes:
            self.connection.execute(f'DROP INDEX "{name}"')
        self.connection.commit()

    def end(self) -> None:
        """Build the dropped indexes again."""
        for _name, sql in self._indexes:
            self.connection.execute(sql)
        self.connection.commit()
        self._indexes = []

    def load(self, batch: Batch) -> None:
        with self.connection.transaction(), self.connection.cursor() as cursor:
            for table, columns, rows in (
                ("runs", RUN_COLUMNS, batch.runs),
                ("metrics", METRIC_COLUMNS, batch.metrics),
                ("artifacts", ARTIFACT_COLUMNS, batch.artifacts),
            ):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

    def explain(self, statement: str, parameters: Any) -> tuple[str, float]:
        """How PostgreSQL runs ``statement``: its scans, and the server's time in ms."""
        row = self.connection.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
        ).fetchone()
        self.connection.rollback()
        assert row is not None
        document = row[0][0]
        return " > ".join(_scans(document["Plan"])), float(document["Execution Time"])

    def analyze(self) -> None:
        """Fresh planner statistics, as after autovacuum has seen the new rows."""
        self.connection.execute("ANALYZE runs, metrics, artifacts")
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


def _scans(node: dict[str, Any]) -> list[str]:
    """The plan's scans in execution order, e.g. 'Index Only Scan Backward ix_metrics_...'."""
    found = []
    if "Scan" in node["Node Type"]:
        backward = " Backward" if node.get("Scan Direction") == "Backward" else ""
        on = node.get("Index Name") or node.get("Relation Name", "")
        found.append(f"{node['Node Type']}{backward} {on} (x{node.get('Actual Loops', 1)})")
    elif node["Node Type"] not in ("Limit", "Nested Loop"):
        found.append(node["Node Type"])
    for child in node.get("Plans", []):
        found += _scans(child)
    return found

"""Every query the surfaces send has an index on PostgreSQL, as on SQLite.

A store on a throw-away PostgreSQL (tests/postgres.py) gets a few thousand runs, metrics,
artifacts, versions, alias moves, deployments and their history; then the statements the
store really sends for the listing, run counts, alias lookups, versions, deployments and the
reconcile on open are captured from the engine and given to ``EXPLAIN``:

* as the planner sees them (fresh statistics), the filtered page sorted by a metric never
  scans ``runs`` or ``metrics`` whole;
* with sequential scans priced out (``enable_seqscan = off``), no statement is left with a
  ``Seq Scan``: only a query with no usable index has to keep one, so each has its index.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from postgres import PostgresCluster
from sqlalchemy import event, text

from jupyter_mlops.store import Store
from jupyter_mlops.store.audit import audit

RUNS = 20000
DATASET_SHA = f"{7:064x}"
FUNCTIONS = 20
VERSIONS_PER_FUNCTION = 10


def _sha(number: str) -> str:
    return f"lpad(to_hex({number}), 64, '0')"


POPULATE = [
    # runs of 20 functions x 10 versions over 5 notebooks and 3 executors, mostly finished;
    # a few still running on another host (reconcile leaves those alone)
    f"""INSERT INTO runs (id, notebook, function, version, parameters, status, created_at,
        executor, inputs, host, pid, actor)
    SELECT md5(i::text), 'nb' || (i % 5) || '.ipynb', 'f' || (i % {FUNCTIONS}),
        {_sha(f"(i / {FUNCTIONS}) % {VERSIONS_PER_FUNCTION}")},
        json_build_object('i', i),
        (ARRAY['succeeded', 'failed', 'succeeded', 'running'])[1 + (i / 7) % 4],
        timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute',
        (ARRAY['local', 'dask', 'kfp'])[1 + i % 3], '{{}}'::json,
        CASE WHEN (i / 7) % 4 = 3 THEN 'elsewhere' END, CASE WHEN (i / 7) % 4 = 3 THEN 1 END,
        'ada'
    FROM generate_series(1, {RUNS}) AS i""",
    f"""INSERT INTO metrics (run_id, name, value)
    SELECT md5(i::text), name, (i * 7919 % 1000) / 1000.0
    FROM generate_series(1, {RUNS}) AS i, unnest(ARRAY['accuracy', 'loss']) AS name
    WHERE i % 10 <> 0""",
    f"""INSERT INTO artifacts (id, run_id, name, kind, sha256, size, created_at)
    SELECT substr(md5('a' || i), 1, 32), md5(i::text), 'train/model', 'model', {_sha("i")}, 3,
        timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute'
    FROM generate_series(1, {RUNS}) AS i""",
    f"""INSERT INTO versions (function, version, notebook, code, created_at)
    SELECT 'f' || f, {_sha("v")}, 'nb.ipynb', 'fit()', timestamptz '2026-01-01 00:00:00+00'
    FROM generate_series(0, {FUNCTIONS - 1}) AS f, generate_series(0, 99) AS v""",
    f"""INSERT INTO aliases (function, alias, version, updated_at)
    SELECT 'f' || f, alias, {_sha("1")}, now()
    FROM generate_series(0, {FUNCTIONS - 1}) AS f,
        unnest(ARRAY['staging', 'production']) AS alias""",
    f"""INSERT INTO alias_history (function, alias, version, previous, moved_at, actor)
    SELECT 'f' || (i % {FUNCTIONS}), 'production', {_sha("i % 100")}, NULL,
        timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute', 'ada'
    FROM generate_series(1, 2000) AS i""",
    """INSERT INTO deployments (name, notebook, notebook_path, function, version, binding, host,
        port, token_sha256, options, desired, generation, status, restarts, created_at,
        updated_at)
    SELECT 'd' || i, 'nb.ipynb', 'nb.ipynb', 'f1', lpad('1', 64, '0'), '{"inputs": []}',
        '127.0.0.1', 9000 + i, lpad('2', 64, '0'), '{}', 'running', 1, 'running', 0, now(), now()
    FROM generate_series(1, 300) AS i""",
    """INSERT INTO deployment_events (deployment, at, kind, version, message, actor)
    SELECT 'd' || (i % 300 + 1), now(), 'deployed', NULL, NULL, 'ada'
    FROM generate_series(1, 3000) AS i""",
    """INSERT INTO deployment_windows (deployment, version, start, "end", requests, errors,
        rejected)
    SELECT 'd' || (i % 300 + 1), NULL, now() - interval '1 hour' + i * interval '1 second',
        now() - interval '1 hour' + i * interval '1 second', 10, 0, 0
    FROM generate_series(1, 3000) AS i""",
    f"""INSERT INTO sweeps (id, notebook, function, strategy, space, status, created_at, host)
    SELECT md5('s' || i), 'nb.ipynb', 'f1', 'grid', '{{}}', 'succeeded', now(), 'elsewhere'
    FROM generate_series(1, {RUNS // 10}) AS i""",
    f"""INSERT INTO run_datasets (run_id, name, uri, sha256, size, source, created_at)
    SELECT md5(i::text), 'data_path', '/data/customers-' || (i % 50) || '.csv',
        {_sha("i % 50")}, 1000, 'parameter', now()
    FROM generate_series(1, {RUNS}) AS i""",
    "ANALYZE",
]


@pytest.fixture(scope="module")
def big_store(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """Populated once for the module; the tests only read it."""
    url = postgres_cluster.create_database("indexes")
    with Store(url, tmp_path_factory.mktemp("indexes") / "artifacts") as store:
        with store._db.writer.connect() as connection, connection.begin():
            for statement in POPULATE:
                connection.execute(text(statement))
        yield store


Captured = list[tuple[str, Any]]


def capture(store: Store, operations: Callable[[], object]) -> Captured:
    """The statements (with their parameters) the store sends while ``operations`` run."""
    seen: Captured = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, parameters))

    event.listen(store._db.engine, "before_cursor_execute", record)
    try:
        operations()
    finally:
        event.remove(store._db.engine, "before_cursor_execute", record)
    assert seen, "the operations sent no statement"
    return seen


def explain(store: Store, statement: str, parameters: Any, *, seqscan: bool = True) -> str:
    connection = store._db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SET enable_seqscan = {'on' if seqscan else 'off'}")
        cursor.execute(f"EXPLAIN {statement}", parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
        return plan
    finally:
        connection.rollback()
        connection.close()


def _surfaces(store: Store) -> dict[str, Callable[[], object]]:
    """What the CLI, the REST API, the magics and the sidebar ask of the store."""
    first_run = store.list_runs(limit=1).runs[0].id
    sweep = hashlib.md5(b"s1").hexdigest()
    filtered = {"function": "f3", "status": "succeeded", "order_by": "metric:accuracy"}

    def next_page(**options: Any) -> object:
        page = store.list_runs(limit=50, **options)
        return store.list_runs(limit=50, cursor=page.next_cursor, **options)

    return {
        "runs listing, filtered and sorted by a metric": lambda: next_page(**filtered),
        "runs listing sorted by a metric": lambda: next_page(order_by="metric:loss"),
        "runs listing, newest first": lambda: next_page(),
        "runs of a notebook": lambda: next_page(notebook="nb2.ipynb"),
        "runs of an executor": lambda: next_page(executor="kfp"),
        "runs of a sweep": lambda: next_page(sweep_id=sweep),
        "one run by prefix": lambda: store.get_run(first_run[:6]),
        "versions of a function with run counts": lambda: store.list_versions("f3"),
        "alias lookup": lambda: store.get_version("f3", "production"),
        "alias history": lambda: store.alias_history("f3", "production"),
        "newest artifact": lambda: store.newest_artifact("train/model", status="succeeded"),
        "deployment and its history": lambda: (
            store.deployments.get("d7"),
            store.deployments.events("d7"),
            store.deployments.windows("d7"),
            store.deployments.samples("d7"),
            store.deployments.totals("d7"),
        ),
        "reconcile on open": store.reconcile_interrupted,
        "audit of a function and a deployment": lambda: (audit(store, "f3"), audit(store, "d7")),
        "what is behind a deployment": lambda: store.lineage.behind("d7"),
        "what is downstream of a data set": lambda: (
            store.lineage.downstream("/data/customers-7.csv"),
            store.lineage.downstream(DATASET_SHA),
        ),
    }


def test_the_filtered_page_sorted_by_a_metric_reads_runs_through_an_index(
    big_store: Store,
) -> None:
    statements = capture(
        big_store,
        lambda: big_store.list_runs(
            function="f3", status="succeeded", order_by="metric:accuracy", limit=50
        ),
    )
    listing = [
        (sql, params) for sql, params in statements if "FROM runs" in sql or "metrics" in sql
    ]
    assert len(listing) >= 1
    for statement, parameters in listing:  # (a reconcile of sweeps may come along)
        plan = explain(big_store, statement, parameters)
        assert "Seq Scan on runs" not in plan, plan
        assert "Seq Scan on metrics" not in plan, plan
        assert "Index" in plan, plan


@pytest.mark.parametrize(
    "surface",
    [
        "runs listing, filtered and sorted by a metric",
        "runs listing sorted by a metric",
        "runs listing, newest first",
        "runs of a notebook",
        "runs of an executor",
        "runs of a sweep",
        "one run by prefix",
        "versions of a function with run counts",
        "alias lookup",
        "alias history",
        "newest artifact",
        "deployment and its history",
        "reconcile on open",
        "audit of a function and a deployment",
        "what is behind a deployment",
        "what is downstream of a data set",
    ],
)
def test_every_query_of_the_surfaces_has_an_index(big_store: Store, surface: str) -> None:
    operations = _surfaces(big_store)[surface]
    for statement, parameters in capture(big_store, operations):
        plan = explain(big_store, statement, parameters, seqscan=False)
        assert "Seq Scan" not in plan, f"{surface}: no index for\n{statement}\n{plan}"


def test_the_population_is_what_the_plans_were_checked_against(big_store: Store) -> None:
    # A guard against a plan that passes because the tables are empty.
    page = big_store.list_runs(function="f3", status="succeeded", order_by="metric:accuracy")
    assert len(page.runs) == 50
    assert page.runs[0].metrics["accuracy"] >= page.runs[-1].metrics["accuracy"]
    assert big_store.get_version("f3", "production").run_count > 0
    assert len(big_store.deployments.events("d7")) == 10
    assert big_store.reconcile_interrupted() == []  # the running ones are on another host
    assert socket.gethostname() != "elsewhere"
    assert json.dumps(big_store.get_run(page.runs[0].id).parameters)

"""``jupyter mlops store copy``: a laptop's SQLite store into PostgreSQL and back.

The source is filled through the store's own API (runs with metrics, parameters, artifacts,
a child run, a sweep, versions, alias moves, a deployment with events, monitoring windows,
samples and drift references, data sets read); the copy runs as the real CLI process into a
throw-away PostgreSQL (tests/postgres.py), and is compared through the same API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from postgres import PostgresCluster
from sqlalchemy import create_engine, inspect, text

from jupyter_mlops.store import Store
from jupyter_mlops.store.copy import tables

FUNCTION = "train"
V1, V2, V3 = ("1" * 64, "2" * 64, "3" * 64)


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
        check=False,
    )


def fill(store: Store, runs: int = 12) -> None:
    """A small but complete history, written the way the surfaces write it."""
    for number, version in enumerate((V1, V2, V3)):
        store.register_version(FUNCTION, version, notebook="nb", code=f"x = {number}\n")
    store.set_alias(FUNCTION, V1, "production", actor="ana")
    store.set_alias(FUNCTION, V2, "staging", actor="bob")
    store.set_alias(FUNCTION, V2, "production", actor="bob")
    store.set_alias(FUNCTION, V3, "staging", actor="cy")
    sweep = store.create_sweep(notebook="nb", function=FUNCTION, strategy="grid", space={"a": [1]})
    queued = store.create_queued(
        notebook="nb", function=FUNCTION, version=V1, parameters=[{"a": 1}, {"a": 2}],
        sweep_id=sweep.id,
    )  # fmt: skip
    store.finish_sweep(sweep.id, "succeeded", best_run_id=queued[0])
    parent = None
    for number in range(runs):
        run, _ = store.create_run(
            notebook="nb",
            function=FUNCTION,
            version=(V1, V2, V3)[number % 3],
            parameters={"alpha": number / 10, "name": f"run {number}"},
            idempotency_key=f"key-{number}",
            parent_id=parent,
            status="running",
            actor="ana",
        )
        parent = parent or run.id  # later runs are children of the first
        store.log_metrics(run.id, {"accuracy": 0.5 + number / 100, "loss": 1.0 / (number + 1)})
        store.add_artifact(run.id, "model.bin", "file", data=f"model {number}".encode())
        store.lineage.record(
            run.id,
            [{"name": "customers", "uri": "/data/customers.csv", "sha256": "a" * 64,
              "size": 1234, "schema": [{"name": "age", "type": "int64"}], "source": "log_input"}],
        )  # fmt: skip
        status = "failed" if number == 3 else "succeeded"
        error = {"ename": "ValueError", "evalue": "bad"} if status == "failed" else None
        store.finish_run(run.id, status, error=error)
    deployment = store.deployments.create(
        name="churn", notebook="nb", notebook_path="/tmp/nb.ipynb", function=FUNCTION,
        version=V2, host="127.0.0.1", port=8123, token_sha256="b" * 64,
        binding=[{"name": "model", "run": parent}], options={"workers": 1}, alias="production",
        from_run=parent, actor="ana",
    )  # fmt: skip
    store.deployments.add_event(deployment.name, "deployed", V2, "first", actor="ana")
    store.deployments.add_event(deployment.name, "redeployed", V3, None, actor="bob")
    store.drift.set_references(deployment.name, {"age": {"edges": [0, 50, 100]}}, "run x")
    now = time.time()
    store.deployments.add_window(
        deployment.name, V2,
        {"start": now - 60, "end": now - 30, "requests": 5, "errors": 1, "p50_ms": 2.5,
         "samples": [{"at": now - 45, "status": 200, "latency_ms": 2.0, "input": {"age": 3},
                      "output": 0.1}]},
    )  # fmt: skip
    store.deployments.add_window(
        deployment.name, V2,
        {"start": now - 30, "end": now, "requests": 7, "drift": {"age": [1, 6]}},
    )  # fmt: skip


def listing(store: Store) -> dict[str, Any]:
    """What the surfaces show, in a form two stores can be compared by."""
    runs = []
    cursor = None
    while True:
        page = store.list_runs(limit=5, cursor=cursor, order_by="metric:accuracy")
        for run in page.runs:
            record = run.to_dict()
            for artifact in record.get("artifacts", []):
                artifact.pop("path", None)  # the artifact folder differs
            runs.append(record)
        cursor = page.next_cursor
        if cursor is None:
            break
    deployment = store.deployments.get("churn").to_dict()
    sweeps = {run["sweep_id"] for run in runs}
    return {
        "runs": runs,
        "versions": [v.__dict__ for v in store.list_versions(FUNCTION)],
        "aliases": [m.__dict__ for m in store.alias_history(FUNCTION)],
        "deployment": {k: v for k, v in deployment.items() if k != "url"},
        "events": [e.__dict__ for e in store.deployments.events("churn")],
        "windows": [w.__dict__ for w in store.deployments.windows("churn")],
        "samples": [s.__dict__ for s in store.deployments.samples("churn")],
        "drift": [w.__dict__ for w in store.drift.windows("churn")],
        "references": store.drift.references("churn"),
        "lineage": store.lineage.behind("churn"),
        "downstream": store.lineage.downstream("a" * 64),
        "sweeps": [store.get_sweep(s).__dict__ for s in sorted(sweeps - {None})],
    }


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: int(connection.execute(text(f"SELECT count(*) FROM {table.name}"))
                                .scalar_one())
                for table in tables()
            }  # fmt: skip
    finally:
        engine.dispose()


def copied_lines(output: str) -> dict[str, tuple[int, int]]:
    found = {}
    for line in output.splitlines():
        table, sep, rest = line.partition(": ")
        if sep and rest.endswith(" already there"):
            copied, _, already = rest.removesuffix(" already there").partition(" copied, ")
            found[table] = (int(copied), int(already))
    return found


@pytest.fixture
def laptop(tmp_path: Path) -> tuple[Path, str]:
    """A project whose configured store is a SQLite file filled through the API."""
    root = tmp_path / "laptop"
    root.mkdir()
    url = f"sqlite:///{root / '.mlops' / 'mlops.db'}"
    with Store(url, root / ".mlops" / "artifacts") as store:
        fill(store)
    return root, url


def test_copy_to_postgresql_then_back_to_a_fresh_sqlite(
    laptop: tuple[Path, str], postgres_url: str, tmp_path: Path
) -> None:
    root, sqlite_url = laptop
    source_counts = counts(sqlite_url)
    assert all(source_counts[name] > 0 for name in ("runs", "metrics", "alias_history"))

    done = cli(root, "store", "copy", "--to", postgres_url)
    assert done.returncode == 0, done.stderr
    lines = copied_lines(done.stdout)
    assert set(lines) == {table.name for table in tables()}  # every table, none forgotten
    engine = create_engine(postgres_url)
    try:  # and the metadata's tables are all that the migrations created
        assert set(inspect(engine).get_table_names()) == set(lines) | {"alembic_version"}
    finally:
        engine.dispose()
    assert lines == {name: (count, 0) for name, count in source_counts.items()}
    assert "artifact" in done.stdout
    assert "not in the database" in done.stdout
    assert counts(postgres_url) == source_counts

    # The copy reads as the original: same listing, pages, metric order, lineage, drift.
    with Store(sqlite_url, root / ".mlops" / "artifacts") as original:
        expected = listing(original)
    with Store(postgres_url, tmp_path / "pg-artifacts") as copy:
        assert listing(copy) == expected
        # The sequences go on after the copied ids: a new move gets a new, higher id.
        copy.set_alias(FUNCTION, V1, "staging", actor="dee")
        assert copy.alias_history(FUNCTION, "staging")[-1].actor == "dee"

    # A second copy adds nothing (the alias move above is the target's own, not a source's).
    again = cli(root, "store", "copy", "--to", postgres_url)
    assert again.returncode == 0, again.stderr
    assert copied_lines(again.stdout) == {name: (0, n) for name, n in source_counts.items()}

    # And back: PostgreSQL into a fresh SQLite file, through --from.
    back_url = f"sqlite:///{tmp_path / 'back' / 'mlops.db'}"
    returned = cli(root, "store", "copy", "--from", postgres_url, "--to", back_url)
    assert returned.returncode == 0, returned.stderr
    with Store(back_url, tmp_path / "back" / "artifacts") as back:
        with Store(postgres_url, tmp_path / "pg-artifacts") as copy:
            assert listing(back) == listing(copy)
        assert len(back.alias_history(FUNCTION)) == len(expected["aliases"]) + 1


def test_a_target_at_another_revision_is_refused(
    laptop: tuple[Path, str], postgres_url: str
) -> None:
    root, _ = laptop
    with Store(postgres_url, root / "pg-artifacts"):
        pass  # migrated to head
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    engine.dispose()
    refused = cli(root, "store", "copy", "--to", postgres_url)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: the target store ")
    assert "revision 0003" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert counts(postgres_url)["runs"] == 0


def test_an_unreachable_or_invalid_url_is_one_line(
    laptop: tuple[Path, str], postgres_cluster: PostgresCluster
) -> None:
    root, _ = laptop
    missing = postgres_cluster.url("no_such_database")
    no_server = f"postgresql+psycopg://postgres@/x?host={root}"  # no socket there
    for url in (
        missing,
        no_server,
        "not a url",
        "nosuchdialect://x/y",
        "postgresql+nodriver://h/x",
    ):
        failed = cli(root, "store", "copy", "--to", url)
        assert failed.returncode == 2, failed.stdout
        assert failed.stderr.startswith("error: "), failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    nowhere = cli(root, "store", "copy", "--from", "sqlite:////nonexistent/x.db", "--to", missing)
    assert nowhere.returncode == 2
    assert "does not exist" in nowhere.stderr


def test_a_copy_cut_short_is_completed_by_running_it_again(
    laptop: tuple[Path, str], postgres_url: str
) -> None:
    root, sqlite_url = laptop
    source_counts = counts(sqlite_url)
    assert cli(root, "store", "copy", "--to", postgres_url).returncode == 0
    # As if the copy had stopped part-way: some metrics and history rows, and the last
    # tables entirely, never reached the target.
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM metrics WHERE name = 'loss'"))
        connection.execute(text("DELETE FROM alias_history WHERE actor = 'bob'"))
        connection.execute(text("DELETE FROM deployment_windows"))
        connection.execute(text("DELETE FROM run_datasets"))
    engine.dispose()
    again = cli(root, "store", "copy", "--to", postgres_url)
    assert again.returncode == 0, again.stderr
    lines = copied_lines(again.stdout)
    assert lines["metrics"] == (12, source_counts["metrics"] - 12)  # one 'loss' per run
    assert lines["alias_history"] == (2, source_counts["alias_history"] - 2)
    assert lines["deployment_windows"] == (source_counts["deployment_windows"], 0)
    assert lines["run_datasets"] == (source_counts["run_datasets"], 0)
    assert lines["runs"] == (0, source_counts["runs"])
    assert counts(postgres_url) == source_counts

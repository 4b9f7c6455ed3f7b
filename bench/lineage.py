"""Lineage benchmark: ``python bench/lineage.py [--runs N] [--repeat N] [--backends ...]``.

Fills a temporary SQLite store and a PostgreSQL one (a throw-away cluster, ``bench/pg_cluster.py``;
``--backends sqlite,postgresql``), each through the migrations then bulk inserts, with ``--runs``
finished runs of five functions, each reading one of 100 data sets (two content versions
each) and one of 20 deployments bound to a recent run, then prints the median time of the two
lineage questions: what is behind a deployment, and what is downstream of a data set. Target:
under 50 ms at 10,000 runs. Numbers are printed, never asserted (tests/test_lineage.py
asserts a generous bound).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pg_cluster import cluster_if_wanted  # noqa: E402

from jupyter_mlops.store import Store  # noqa: E402
from jupyter_mlops.store.lineage import RunDatasetRow  # noqa: E402
from jupyter_mlops.store.models import DeploymentRow, RunRow, VersionRow  # noqa: E402

FUNCTIONS = ("load", "clean", "features", "train", "evaluate")
DATASETS = 100
DEPLOYMENTS = 20
TARGET_MS = 50.0


def data_path(index: int) -> str:
    return f"/data/set{index % DATASETS:03d}.parquet"


def fill(url: str, count: int) -> None:
    """``count`` runs with one data set read each, versions, and bound deployments."""
    engine = create_engine(url)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    versions = [f"{i:064x}" for i in range(10)]
    runs: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    for index in range(count):
        run_id = uuid.UUID(int=index + 1, version=4).hex
        created = start + timedelta(seconds=index * 7)
        function = FUNCTIONS[index % len(FUNCTIONS)]
        runs.append(
            {
                "id": run_id,
                "notebook": "project/nb.ipynb",
                "function": function,
                "version": versions[index % len(versions)],
                "parameters": {},
                "status": "succeeded",
                "created_at": created,
                "started_at": created,
                "ended_at": created + timedelta(seconds=5),
                "executor": "local",
                "inputs": {},
            }
        )
        reads.append(
            {
                "run_id": run_id,
                "name": "customers",
                "uri": data_path(index),
                "sha256": f"{(index % (DATASETS * 2)) + 1:064x}",
                "size": 1 << 20,
                "schema": {"columns": [{"name": "id", "type": "int64"}]},
                "source": "parameter",
                "created_at": created,
            }
        )
    try:
        with engine.begin() as connection:
            connection.execute(insert(RunRow), runs)
            connection.execute(insert(RunDatasetRow), reads)
            connection.execute(
                insert(VersionRow),
                [
                    {"function": f, "version": v, "notebook": "nb", "code": "", "created_at": start}
                    for f in FUNCTIONS
                    for v in versions
                ],
            )
            connection.execute(
                insert(DeploymentRow),
                [_deployment(i, runs[-1 - i], start) for i in range(min(DEPLOYMENTS, count))],
            )
    finally:
        engine.dispose()


def _deployment(index: int, run: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "name": f"dep-{index}",
        "notebook": "project/nb.ipynb",
        "notebook_path": "/project/nb.ipynb",
        "function": run["function"],
        "version": run["version"],
        "binding": {"inputs": [{"name": "x", "function": run["function"], "run": run["id"]}]},
        "host": "127.0.0.1",
        "port": 9000 + index,
        "token_sha256": "0" * 64,
        "options": {},
        "desired": "running",
        "generation": 1,
        "status": "running",
        "restarts": 0,
        "created_at": now,
        "updated_at": now,
    }


def median_ms(operation: Callable[[], object], repeat: int) -> float:
    operation()  # warm the caches: the numbers are of a store in use
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        operation()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def measure(store: Store, repeat: int) -> dict[str, float]:
    return {
        "behind deployment": median_ms(lambda: store.lineage.behind("dep-0"), repeat),
        "behind function": median_ms(lambda: store.lineage.behind("train"), repeat),
        "downstream of a data set": median_ms(
            lambda: store.lineage.downstream(data_path(7)), repeat
        ),
        "downstream of a hash": median_ms(lambda: store.lineage.downstream(f"{8:064x}"), repeat),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    arguments = parser.parse_args()
    wanted = [name.strip() for name in arguments.backends.split(",") if name.strip()]
    print(
        f"lineage at {arguments.runs:,} runs (median of {arguments.repeat}; target {TARGET_MS} ms)"
    )
    with tempfile.TemporaryDirectory() as folder, cluster_if_wanted(wanted) as cluster:
        urls = {}
        if "sqlite" in wanted:
            urls["sqlite"] = f"sqlite:///{Path(folder) / 'mlops.db'}"
        if cluster is not None:
            urls["postgresql"] = cluster.create_database("lineage")
        for backend, url in urls.items():
            Store(url, Path(folder) / "artifacts").close()  # migrated
            fill(url, arguments.runs)
            with Store(url, Path(folder) / "artifacts") as store:
                results = measure(store, arguments.repeat)
            print(f"{backend}:")
            for name, value in results.items():
                print(f"  {name:<28} {value:8.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

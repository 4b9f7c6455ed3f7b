"""Run-store benchmark: ``python bench/store.py [--runs N] [--repeat N]``.

Fills a temporary SQLite store with ``--runs`` runs (bulk insert through SQLAlchemy Core:
five functions, mixed statuses, three metrics and one artifact each), reopens it the way the
CLI does (so the open path's statistics refresh is part of the picture) and prints the median
time of each operation. The headline row is the filtered, metric-sorted page, with a target
of 20 ms at 100,000 runs. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
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

from jupyter_mlops.store import Store  # noqa: E402
from jupyter_mlops.store.models import ArtifactRow, MetricRow, RunRow  # noqa: E402

FUNCTIONS = ("load", "clean", "features", "train", "evaluate")
STATUSES = ("succeeded",) * 7 + ("failed", "cancelled", "interrupted")
METRICS = ("accuracy", "loss", "f1")
BATCH = 10_000
TARGET_MS = 20.0


def fill(url: str, count: int, seed: int = 0) -> None:
    """Insert ``count`` finished runs, their metrics and one artifact each, in batches."""
    rng = random.Random(seed)
    engine = create_engine(url)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    blobs = [f"{i:064x}" for i in range(16)]
    try:
        with engine.begin() as connection:
            for offset in range(0, count, BATCH):
                runs: list[dict[str, Any]] = []
                metrics: list[dict[str, Any]] = []
                artifacts: list[dict[str, Any]] = []
                for index in range(offset, min(offset + BATCH, count)):
                    run_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
                    function = FUNCTIONS[index % len(FUNCTIONS)]
                    status = rng.choice(STATUSES)
                    created = start + timedelta(seconds=index * 7)
                    runs.append(
                        {
                            "id": run_id,
                            "notebook": f"project/nb{index % 3}.ipynb",
                            "function": function,
                            "version": blobs[index % len(blobs)],
                            "parameters": {"alpha": rng.random(), "epochs": rng.randint(1, 50)},
                            "status": status,
                            "created_at": created,
                            "started_at": created + timedelta(seconds=1),
                            "ended_at": created + timedelta(seconds=5),
                            "executor": "local",
                            "host": "bench",
                            "pid": 1,
                            "inputs": {},
                        }
                    )
                    if status != "interrupted":
                        for name in METRICS:
                            metrics.append(
                                {"run_id": run_id, "name": name, "value": round(rng.random(), 4)}
                            )
                    artifacts.append(
                        {
                            "id": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
                            "run_id": run_id,
                            "name": f"{function}/model",
                            "kind": "model",
                            "sha256": blobs[index % len(blobs)],
                            "size": 1024,
                            "created_at": created + timedelta(seconds=4),
                        }
                    )
                connection.execute(insert(RunRow), runs)
                connection.execute(insert(MetricRow), metrics)
                connection.execute(insert(ArtifactRow), artifacts)
    finally:
        engine.dispose()


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls, after one untimed warm-up."""
    action()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def one_run(store: Store) -> None:
    run, _ = store.create_run(notebook="project/nb0.ipynb", function="train", parameters={"a": 1})
    store.start_run(run.id)
    store.log_metrics(run.id, {"accuracy": 0.5, "loss": 0.1})
    store.finish_run(run.id, "succeeded", metrics={"f1": 0.3})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlops-bench-store-") as tmp:
        root = Path(tmp)
        Store.for_root(root).close()  # a new store, migrated
        url = f"sqlite:///{root / '.mlops' / 'mlops.db'}"
        began = time.perf_counter()
        fill(url, options.runs)
        fill_seconds = time.perf_counter() - began
        began = time.perf_counter()
        store = Store.for_root(root)  # grown: the open refreshes the statistics
        first_open = (time.perf_counter() - began) * 1000
        try:
            rows = measure(store, root, options.repeat)
        finally:
            store.close()
    print(
        f"run store, {options.runs:,} runs (filled in {fill_seconds:.1f} s), median of "
        f"{options.repeat}"
    )
    print(f"{'operation':<58}{'ms':>9}")
    print(f"{'open after growth (ANALYZE)':<58}{first_open:>9.2f}")
    for name, value in rows:
        mark = ""
        if name.startswith("list_runs function+status"):
            mark = "  ok" if value <= TARGET_MS else f"  MISSED (target {TARGET_MS:g} ms)"
        print(f"{name:<58}{value:>9.2f}{mark}")


def measure(store: Store, root: Path, repeat: int) -> list[tuple[str, float]]:
    first = store.list_runs(limit=50)
    assert first.next_cursor is not None
    newest_id = first.runs[0].id
    sorted_page = store.list_runs(
        function="train", status="succeeded", order_by="metric:accuracy", limit=50
    )
    assert sorted_page.next_cursor is not None
    return [
        ("open existing store (Store.for_root)", timed(lambda: Store.for_root(root).close(), 5)),
        (
            "create_run + start_run + log_metrics + finish_run",
            timed(lambda: one_run(store), repeat),
        ),
        ("get_run (full id)", timed(lambda: store.get_run(newest_id), repeat)),
        ("get_run (8-char prefix)", timed(lambda: store.get_run(newest_id[:8]), repeat)),
        ("list_runs page 1 by created_at (50)", timed(lambda: store.list_runs(limit=50), repeat)),
        (
            "list_runs page 2 via cursor",
            timed(lambda: store.list_runs(limit=50, cursor=first.next_cursor), repeat),
        ),
        (
            "list_runs function+status by metric:accuracy, page 1",
            timed(
                lambda: store.list_runs(
                    function="train", status="succeeded", order_by="metric:accuracy", limit=50
                ),
                repeat,
            ),
        ),
        (
            "list_runs function+status by metric:accuracy, page 2",
            timed(
                lambda: store.list_runs(
                    function="train",
                    status="succeeded",
                    order_by="metric:accuracy",
                    limit=50,
                    cursor=sorted_page.next_cursor,
                ),
                repeat,
            ),
        ),
        (
            "list_runs function+status(failed) by metric:loss asc, page 1",
            timed(
                lambda: store.list_runs(
                    function="evaluate",
                    status="failed",
                    order_by="metric:loss",
                    descending=False,
                    limit=50,
                ),
                repeat,
            ),
        ),
        (
            "newest_artifact('train/model')",
            timed(lambda: store.newest_artifact("train/model"), repeat),
        ),
    ]


if __name__ == "__main__":
    main()

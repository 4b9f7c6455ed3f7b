"""Run-store benchmark: ``python bench/store.py [--runs 100000,1000000] [--backends ...]``.

Fills a SQLite store and a PostgreSQL store (a throw-away cluster from tests/postgres.py, on
a Unix socket in a temp folder) with the same runs (``store_data.py``: five functions, mixed
statuses, three metrics and one artifact each), growing both to each ``--runs`` size in turn,
and prints the median time of each operation through the Store API, one column per backend
and size. After each bulk load the planner's statistics are refreshed: SQLite's on reopening
(the store's own ``ANALYZE`` when it has grown), PostgreSQL's by an explicit ``ANALYZE``
(what autovacuum does after a while). The headline rows are the filtered, metric-sorted
pages, with a target of 20 ms. Then ``--writers`` processes record runs concurrently
(``store_writers.py``), in runs/s. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "tests"):  # tests/postgres.py: the throw-away cluster
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from pg_cluster import cluster_if_wanted  # noqa: E402
from sqlalchemy import Engine, event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from store_data import VERSIONS, PostgresLoader, SqliteLoader, generate  # noqa: E402
from store_writers import one_run, throughput  # noqa: E402

from jupyter_mlops.store import Store  # noqa: E402

TARGET_MS = 20.0
TARGET_ROWS = "list_runs function+status"
BACKENDS = ("sqlite", "postgresql")
SORTED_PAGES: dict[str, dict[str, Any]] = {  # the headline rows, named as in the table
    f"{TARGET_ROWS} by metric:accuracy, page 1": {
        "function": "train", "status": "succeeded", "order_by": "metric:accuracy", "limit": 50,
    },
    f"{TARGET_ROWS}(failed) by metric:loss asc, page 1": {
        "function": "evaluate", "status": "failed", "order_by": "metric:loss",
        "descending": False, "limit": 50,
    },
}  # fmt: skip


@dataclass
class Backend:
    """One store being grown: how to load it, open it and refresh its statistics."""

    name: str
    url: str
    artifacts: Path
    loader: SqliteLoader | PostgresLoader
    columns: dict[int, dict[str, float]] = field(default_factory=dict)  # size -> row -> ms
    plans: dict[int, list[str]] = field(default_factory=dict)  # size -> EXPLAIN summaries

    def open(self) -> Store:
        return Store(self.url, self.artifacts)


def sizes(text: str) -> list[int]:
    try:
        found = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of run counts: {text!r}") from None
    if not found or found[0] < 100:
        raise argparse.ArgumentTypeError("run counts must be at least 100")
    return found


def names(text: str) -> list[str]:
    found = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(found) - set(BACKENDS))
    if unknown or not found:
        raise argparse.ArgumentTypeError(f"backends are {', '.join(BACKENDS)}, not {text!r}")
    return found


def counts(text: str) -> list[int]:
    try:
        found = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of process counts: {text!r}") from None
    if any(n < 1 for n in found):
        raise argparse.ArgumentTypeError("writer counts must be at least 1")
    return found


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive count: {text!r}")
    return value


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls, after one untimed warm-up."""
    action()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=sizes, default=[100_000, 1_000_000], help="sizes, a,b")
    parser.add_argument("--backends", type=names, default=list(BACKENDS))
    parser.add_argument("--repeat", type=positive, default=20)
    parser.add_argument("--writers", type=counts, default=[1, 2, 4], help="process counts")
    parser.add_argument("--write-seconds", type=float, default=5.0)
    options = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="mlops-bench-store-") as tmp,
        cluster_if_wanted(options.backends) as cluster,
    ):
        root = Path(tmp)
        writes = _writers(root, cluster, options.backends, options.writers, options.write_seconds)
        backends = _backends(root, cluster, options.backends)
        try:
            loads = _grow(backends, options.runs, options.repeat)
        finally:
            for backend in backends:
                backend.loader.close()
    _print_listing(backends, options.runs, options.repeat, loads)
    _print_writers(writes, options.writers, options.write_seconds)


def _backends(root: Path, cluster: Any, wanted: list[str]) -> list[Backend]:
    found = []
    if "sqlite" in wanted:
        path = root / "listing.db"
        url = f"sqlite:///{path}"
        Store(url, root / "artifacts").close()  # a new store, migrated
        found.append(Backend("sqlite", url, root / "artifacts", SqliteLoader(path)))
    if cluster is not None:
        url = cluster.create_database("listing")
        Store(url, root / "artifacts").close()
        database = str(make_url(url).database)
        found.append(
            Backend("pg", url, root / "artifacts", PostgresLoader(cluster.socket, database))
        )
    return found


def _grow(backends: list[Backend], targets: list[int], repeat: int) -> dict[int, dict[str, float]]:
    """Load each size into every backend in turn and measure; seconds spent per size."""
    batches = generate(targets)
    loaded, seconds = 0, {}
    for size in targets:
        spent = dict.fromkeys(["generate", *(backend.name for backend in backends)], 0.0)
        for backend in backends:
            began = time.perf_counter()
            backend.loader.begin()
            spent[backend.name] += time.perf_counter() - began
        while loaded < size:
            began = time.perf_counter()
            batch = next(batches)
            spent["generate"] += time.perf_counter() - began
            for backend in backends:
                began = time.perf_counter()
                backend.loader.load(batch)
                spent[backend.name] += time.perf_counter() - began
            loaded += len(batch.runs)
        for backend in backends:
            began = time.perf_counter()
            backend.loader.end()
            spent[backend.name] += time.perf_counter() - began
        seconds[size] = spent
        for backend in backends:
            backend.columns[size] = _measure(backend, size, repeat)
    return seconds


def _measure(backend: Backend, size: int, repeat: int) -> dict[str, float]:
    rows: dict[str, float] = {}
    began = time.perf_counter()
    if isinstance(backend.loader, PostgresLoader):
        backend.loader.analyze()
    store = backend.open()  # SQLite: the open runs ANALYZE after growth
    rows["statistics after bulk load (ANALYZE)"] = (time.perf_counter() - began) * 1000
    try:
        rows.update(measure(store, backend.open, repeat))
        if isinstance(backend.loader, PostgresLoader):
            backend.plans[size] = [
                f"{name}: {_explain(store, backend.loader, query)}"
                for name, query in SORTED_PAGES.items()
            ]
    finally:
        store.close()
    return rows


def _explain(store: Store, loader: PostgresLoader, query: dict[str, Any]) -> str:
    """EXPLAIN ANALYZE of the metric-sorted query one ``list_runs(**query)`` sends."""
    seen: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:  # conn, cursor, statement, parameters, context, many
        seen.append((args[2], args[3]))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        store.list_runs(**query)
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    statement, parameters = next(
        (text, given) for text, given in seen if "ORDER BY metrics.value" in text
    )
    scans, server_ms = loader.explain(statement, parameters)
    return f"{scans}; server {server_ms:.2f} ms"


def measure(store: Store, reopen: Callable[[], Store], repeat: int) -> dict[str, float]:
    first = store.list_runs(limit=50)
    assert first.next_cursor is not None
    newest_id = first.runs[0].id
    accuracy, loss = SORTED_PAGES.values()
    sorted_page = store.list_runs(**accuracy)
    assert sorted_page.next_cursor is not None
    name_accuracy, name_loss = SORTED_PAGES
    for version in VERSIONS:  # idempotent: the same store is measured again when it has grown
        store.register_version("train", version, notebook="project/nb0.ipynb", code="pass")
    store.set_alias("train", VERSIONS[0], "production")
    return {
        "open existing store": timed(lambda: reopen().close(), 5),
        "create_run + start_run + log_metrics + finish_run": timed(lambda: one_run(store), repeat),
        "get_run (full id)": timed(lambda: store.get_run(newest_id), repeat),
        "get_run (8-char prefix)": timed(lambda: store.get_run(newest_id[:8]), repeat),
        "list_runs page 1 by created_at (50)": timed(lambda: store.list_runs(limit=50), repeat),
        "list_runs page 2 via cursor": timed(
            lambda: store.list_runs(limit=50, cursor=first.next_cursor), repeat
        ),
        name_accuracy: timed(lambda: store.list_runs(**accuracy), repeat),
        name_accuracy.replace("page 1", "page 2"): timed(
            lambda: store.list_runs(**accuracy, cursor=sorted_page.next_cursor), repeat
        ),
        name_loss: timed(lambda: store.list_runs(**loss), repeat),
        "newest_artifact('train/model')": timed(
            lambda: store.newest_artifact("train/model"), repeat
        ),
        "list_versions('train'): 16 versions with run counts": timed(
            lambda: store.list_versions("train"), repeat
        ),
        "get_version('train', 'production'): alias + run count": timed(
            lambda: store.get_version("train", "production"), repeat
        ),
    }


def _writers(
    root: Path, cluster: Any, wanted: list[str], writers: list[int], seconds: float
) -> dict[str, list[float]]:
    """Runs/s for each writer count on each backend, each backend in a fresh store."""
    urls = {}
    if "sqlite" in wanted:
        urls["sqlite"] = f"sqlite:///{root / 'writers.db'}"
    if cluster is not None:
        urls["pg"] = cluster.create_database("writers")
    found: dict[str, list[float]] = {}
    for name, url in urls.items():
        Store(url, root / "artifacts").close()  # migrated before the writers race to open it
        found[name] = [
            throughput(url, root / "artifacts", count, seconds).per_second for count in writers
        ]
    return found


def _size(count: int) -> str:
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def _print_listing(
    backends: list[Backend], targets: list[int], repeat: int, loads: dict[int, dict[str, float]]
) -> None:
    if not backends:
        return
    print("run store: the same runs generated once, bulk-loaded into each backend, then ANALYZE")
    for size in targets:
        spent = ", ".join(f"{name} {value:.1f} s" for name, value in loads[size].items())
        print(f"  growing to {size:,} runs: {spent}")
    print(f"median of {repeat} calls (ms)")
    columns = [(backend, size) for size in targets for backend in backends]
    header = "".join(f"{backend.name + ' ' + _size(size):>12}" for backend, size in columns)
    print(f"{'operation':<62}{header}")
    missed = False
    for row in backends[0].columns[targets[0]]:
        cells = []
        for backend, size in columns:
            value = backend.columns[size][row]
            mark = " "
            if row.startswith(TARGET_ROWS) and value > TARGET_MS:
                mark, missed = "!", True
            cells.append(f"{value:>11.2f}{mark}")
        print(f"{row:<62}{''.join(cells)}")
    target = f"target for the {TARGET_ROWS} rows: {TARGET_MS:g} ms"
    print(f"{target}; ! marks a miss" if missed else f"{target}: all met")
    for backend in backends:
        for size in targets:
            for line in backend.plans.get(size, []):
                print(f"  EXPLAIN ANALYZE {backend.name} {_size(size)}, {line}")


def _print_writers(writes: dict[str, list[float]], writers: list[int], seconds: float) -> None:
    if not writes:
        return
    print(f"\nconcurrent writers: processes recording runs through the Store API for {seconds:g} s")
    print(f"{'backend':<12}" + "".join(f"{str(n) + ' proc runs/s':>18}" for n in writers))
    for name, values in writes.items():
        print(f"{name:<12}" + "".join(f"{value:>18.1f}" for value in values))


if __name__ == "__main__":
    main()

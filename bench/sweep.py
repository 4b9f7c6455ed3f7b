"""Sweep benchmark: ``python bench/sweep.py``.

The same 50 parameter sets of a small notebook (a parameters cell and three cells of cheap
code) through ``papermill.execute_notebook``, four ways: stock papermill sequentially, stock
papermill on a process pool of 2, the ``mlops`` engine sequentially, the ``mlops`` engine on
2 threads. All with ``progress_bar=False``. Prints one table; asserts nothing.

The mlops rows run after one untimed warm-up run that starts the zygote (it is started once
per process and reused); its start-up time is printed below the table.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNS = 50
WORKERS = 2

CELLS: list[tuple[str, list[str]]] = [
    ("alpha = 0.1\nsteps = 10", ["parameters"]),
    ("values = [alpha * i for i in range(steps)]", []),
    ("total = sum(values)\nprint(f'total={total:.3f}')", []),
    ("{'alpha': alpha, 'steps': steps, 'total': total}", []),
]


def write_notebook(folder: Path) -> Path:
    """The benchmark notebook, written with plain JSON."""
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"cell-{index}",
            "metadata": {"tags": tags},
            "outputs": [],
            "source": source,
        }
        for index, (source, tags) in enumerate(CELLS)
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / "sweep.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def combinations() -> list[dict[str, Any]]:
    grid = itertools.product(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], [5, 10, 20, 40, 80]
    )
    return [{"alpha": alpha, "steps": steps} for alpha, steps in grid][:RUNS]


def run_one(job: tuple[str, str, dict[str, Any], str | None]) -> None:
    """One papermill run (module level, so a process pool can pickle it)."""
    import papermill

    source, output, parameters, engine = job
    papermill.execute_notebook(
        source, output, parameters=parameters, engine_name=engine, progress_bar=False
    )


def jobs(
    source: Path, out: Path, engine: str | None
) -> list[tuple[str, str, dict[str, Any], str | None]]:
    tag = engine or "stock"
    return [
        (str(source), str(out / f"{tag}-{index}.ipynb"), parameters, engine)
        for index, parameters in enumerate(combinations())
    ]


def sequential(work: list[tuple[str, str, dict[str, Any], str | None]]) -> None:
    for job in work:
        run_one(job)


def process_pool(work: list[tuple[str, str, dict[str, Any], str | None]]) -> None:
    with concurrent.futures.ProcessPoolExecutor(WORKERS) as pool:
        list(pool.map(run_one, work))


def threads(work: list[tuple[str, str, dict[str, Any], str | None]]) -> None:
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(run_one, work))


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    """Run the four rows and print the table."""
    with tempfile.TemporaryDirectory(prefix="mlops-sweep-") as scratch:
        folder = Path(scratch)
        source = write_notebook(folder)
        rows: list[tuple[str, float]] = []
        rows.append(
            ("stock papermill, sequential", timed(lambda: sequential(jobs(source, folder, None))))
        )
        rows.append(
            (
                f"stock papermill, {WORKERS} processes",
                timed(lambda: process_pool(jobs(source, folder, None))),
            )
        )
        warm = jobs(source, folder, "mlops")[:1]
        zygote_start = timed(lambda: sequential(warm))
        rows.append(
            ("mlops engine, sequential", timed(lambda: sequential(jobs(source, folder, "mlops"))))
        )
        rows.append(
            (
                f"mlops engine, {WORKERS} threads",
                timed(lambda: threads(jobs(source, folder, "mlops"))),
            )
        )
    baseline = rows[0][1]
    print(f"{RUNS} runs of a 4-cell notebook")
    print(f"{'row':<32} {'seconds':>8} {'runs/s':>8} {'vs stock seq':>13}")
    for name, seconds in rows:
        print(f"{name:<32} {seconds:>8.2f} {RUNS / seconds:>8.1f} {baseline / seconds:>12.1f}x")
    print(f"(first mlops run, starting the zygote: {zygote_start:.2f} s, not in the rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

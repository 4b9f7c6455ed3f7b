"""Sweep benchmark: ``python bench/sweep.py`` (``--help`` for the options).

Two tables, in one run.

The tiny notebook: the same 50 parameter sets of a small notebook (a parameters cell and
three cells of cheap code) through ``papermill.execute_notebook``, four ways: stock
papermill sequentially, stock papermill on a process pool of 2, the ``mlops`` engine
sequentially, the ``mlops`` engine on 2 threads. All with ``progress_bar=False``. The mlops
rows run after one untimed warm-up run that starts the zygote (it is started once per
process and reused); its start-up time is printed below the table.

The example notebook (``examples/churn.ipynb``: numpy, pandas, scikit-learn): 20 runs
(seeds 1..20) with stock papermill sequentially and on 2 processes, then end to end through
the CLI (``jupyter mlops sweep examples/churn.ipynb -p seed 1,...,N --parallel 2`` as a new
process, in a fresh project, store and all) at 20 and 100 runs, with warm imports and, at
20 runs, without them (``JUPYTER_MLOPS_WARM_IMPORTS=0``); each CLI row is the median of
``--repeat`` (3) sweeps. Each size runs twice: as a *first command* (no zygote kept: each
timed command starts its own, and those kept are stopped before the next), and with the
*zygote kept* warm by the command before it (``c.MLOps.keep_warm``, the CLI's default), with
its command host. The CLI is the ``jupyter-mlops`` console script next to this interpreter.
Ratios are per run against the stock rows; the warm zygote's memory (proportional and
resident set size) is measured in this process after one run of the example. Prints;
asserts nothing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNS = 50
WORKERS = 2
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "churn.ipynb"

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


def tiny_table() -> None:
    """The four rows of the tiny notebook."""
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


def example_jobs(out: Path, runs: int) -> list[tuple[str, str, dict[str, Any], str | None]]:
    return [
        (str(EXAMPLE), str(out / f"stock-{seed}.ipynb"), {"seed": seed}, None)
        for seed in range(1, runs + 1)
    ]


# The CLI as a user runs it: the console script next to this interpreter (through the
# command host, as `jupyter-mlops` is installed), else the module.
_SCRIPT = Path(sys.executable).parent / "jupyter-mlops"
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "jupyter_mlops.cli"]

# The kept zygotes of the CLI rows live here, and nowhere a user's own would be found.
KEPT_DIR = tempfile.mkdtemp(prefix="mlops-bench-kept-", dir="/tmp")


def stop_kept() -> None:
    """End every zygote and command host the CLI rows kept, and wait until they are gone."""
    env = {**os.environ, "JUPYTER_MLOPS_RUNTIME_DIR": KEPT_DIR}
    command = [sys.executable, "-m", "jupyter_mlops.cli", "zygotes", "--stop", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    stopped = json.loads(done.stdout)
    for zygote in [*stopped["zygotes"], *stopped.get("hosts", [])]:
        give_up = time.monotonic() + 10
        while os.path.exists(f"/proc/{zygote['pid']}") and time.monotonic() < give_up:
            time.sleep(0.05)


def cli_sweep(runs: int, warm: bool, kept: bool = False) -> float:
    """One CLI sweep of the example as a new process, in a fresh project; seconds.

    ``kept``: the zygote the last command kept warm serves this one (after one untimed
    command of one run, if none did); else nothing is kept when it starts (as a first
    command), and what it keeps is stopped before the next."""
    if not kept:
        stop_kept()
    elif not any(name.endswith(".sock") for name in os.listdir(KEPT_DIR)):
        _cli(1, warm)  # untimed: leaves the zygote the timed command uses
    return _cli(runs, warm)


def _cli(runs: int, warm: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="mlops-sweep-cli-") as scratch:
        project = Path(scratch)
        shutil.copy(EXAMPLE, project / "churn.ipynb")
        env = dict(os.environ)
        env["JUPYTER_MLOPS_RUNTIME_DIR"] = KEPT_DIR
        env.pop("JUPYTER_MLOPS_KEEP_WARM", None)  # the CLI's own default
        if not warm:
            env["JUPYTER_MLOPS_WARM_IMPORTS"] = "0"
        seeds = ",".join(str(seed) for seed in range(1, runs + 1))
        command = [*CLI, "sweep", "churn.ipynb"]
        command += ["-p", "seed", seeds, "--parallel", str(WORKERS), "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"the CLI sweep failed: {done.stderr.strip()[-500:]}")
        statuses = [run["status"] for run in json.loads(done.stdout)["runs"]]
        if statuses != ["succeeded"] * runs:
            raise RuntimeError(f"not every run succeeded: {statuses}")
        return seconds


def warm_memory() -> tuple[int | None, int | None, list[str]]:
    """The example's warm zygote in this process: PSS and RSS in bytes, modules warmed."""
    import papermill

    from jupyter_mlops.execute import zygotes

    with tempfile.TemporaryDirectory(prefix="mlops-sweep-mem-") as scratch:
        papermill.execute_notebook(
            str(EXAMPLE), str(Path(scratch) / "out.ipynb"), engine_name="mlops",
            progress_bar=False, cwd=scratch,
        )  # fmt: skip
    zygote = zygotes._zygote
    if zygote is None:
        return None, None, []
    rss = None
    with open(f"/proc/{zygote.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return zygote.memory(), rss, list(zygote.warm.get("modules") or [])


def example_table(stock_runs: int, cli_runs: list[int], repeat: int = 3) -> None:
    """Stock papermill against CLI sweeps of the example notebook (each CLI row the median of
    ``repeat`` sweeps: one new process each, so one slow start does not make the row)."""
    with tempfile.TemporaryDirectory(prefix="mlops-sweep-stock-") as scratch:
        folder = Path(scratch)
        work = example_jobs(folder, stock_runs)
        stock_seq = timed(lambda: sequential(work))
        stock_two = timed(lambda: process_pool(work))
    rows: list[tuple[str, int, float]] = [
        ("stock papermill, sequential", stock_runs, stock_seq),
        (f"stock papermill, {WORKERS} processes", stock_runs, stock_two),
    ]

    def median_of(runs: int, warm: bool, kept: bool) -> float:
        return statistics.median(cli_sweep(runs, warm, kept) for _ in range(repeat))

    try:
        for runs in cli_runs:
            for kept, how in ((False, "first command"), (True, "zygote kept")):
                name = f"CLI sweep --parallel {WORKERS}, {how}"
                rows.append((name, runs, median_of(runs, True, kept)))
        name = f"CLI sweep --parallel {WORKERS}, warm off, first"
        rows.append((name, stock_runs, median_of(stock_runs, False, False)))
    finally:
        stop_kept()
        shutil.rmtree(KEPT_DIR, ignore_errors=True)
    per_seq = stock_seq / stock_runs
    per_two = stock_two / stock_runs
    print(f"\nexample notebook ({EXAMPLE.name}: numpy, pandas, scikit-learn)")
    header = f"{'row':<42} {'runs':>5} {'seconds':>8} {'s/run':>6} {'vs seq':>7} {'vs 2 proc':>9}"
    print(header)
    for name, runs, seconds in rows:
        each = seconds / runs
        print(
            f"{name:<42} {runs:>5} {seconds:>8.2f} {each:>6.2f} "
            f"{per_seq / each:>6.1f}x {per_two / each:>8.1f}x"
        )
    pss, rss, modules = warm_memory()
    mib = 1 << 20
    print(
        f"warm zygote ({', '.join(modules)}): "
        f"PSS {pss / mib if pss else float('nan'):.0f} MiB, "
        f"RSS {rss / mib if rss else float('nan'):.0f} MiB"
    )


def main() -> int:
    """Run the rows and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-tiny", action="store_true", help="only the example's table")
    parser.add_argument("--skip-example", action="store_true", help="only the tiny table")
    parser.add_argument("--stock-runs", type=int, default=20, help="example runs, stock rows")
    parser.add_argument(
        "--cli-runs", type=int, nargs="+", default=[20, 100], help="example runs, CLI rows"
    )
    parser.add_argument("--repeat", type=int, default=3, help="CLI sweeps per row (median)")
    options = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    if not options.skip_tiny:
        tiny_table()
    if not options.skip_example:
        example_table(options.stock_runs, options.cli_runs, options.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

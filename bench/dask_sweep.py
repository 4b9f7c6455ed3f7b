"""Dask benchmark: ``python bench/dask_sweep.py [--runs 200]``.

A sweep of the example notebook (``examples/churn.ipynb``, ``seed`` swept over ``--runs``
values) through the tracked service, in process:

* ``local --parallel 2`` against the ``dask`` executor on a LocalCluster of 2 workers
  (``--parallel 2``): the target is Dask within 1.2x of local; the overhead per run is the
  difference of the two walls divided by the number of runs;
* runs per second on LocalClusters of 1, 2 and ``nproc`` workers (``--parallel`` = workers),
  with the scaling efficiency (runs/s divided by workers x the runs/s of one worker).

Every row starts its cluster and runs one untimed warm-up run first (worker start-up, the
zygote of each worker), printed apart. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "churn.ipynb"
TARGET = 1.2


def sweep_seconds(root: Path, executor: str, workers: int, runs: int) -> tuple[float, float]:
    """(seconds of the timed sweep, seconds of the warm-up) on a new service."""
    from jupyter_mlops.service import MLOps

    service = MLOps(root_dir=str(root))
    try:
        if executor == "dask":
            dask: Any = service.get_executor("dask")
            dask.n_workers = workers
        started = time.perf_counter()
        service.sweep(
            "churn.ipynb",
            {"seed": [str(10_000 + workers)]},
            parallel=workers,
            as_text=True,
            executor=executor,
        )
        warm = time.perf_counter() - started
        started = time.perf_counter()
        result = service.sweep(
            "churn.ipynb",
            {"seed": [str(seed) for seed in range(runs)]},
            parallel=workers,
            as_text=True,
            executor=executor,
        )
        seconds = time.perf_counter() - started
        bad = [run.id for run in result.runs if run.status != "succeeded"]
        if bad:
            raise RuntimeError(f"{len(bad)} runs did not succeed, e.g. {bad[0]}")
        return seconds, warm
    finally:
        service.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-scaling", action="store_true", help="only local vs 2 workers")
    args = parser.parse_args(argv)
    nproc = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="mlops-bench-dask-") as scratch:
        root = Path(scratch)
        shutil.copy(EXAMPLE, root / "churn.ipynb")
        local, local_warm = sweep_seconds(root, "local", 2, args.runs)
        dask, dask_warm = sweep_seconds(root, "dask", 2, args.runs)
        ratio = dask / local
        print(f"{args.runs} runs of examples/churn.ipynb, {nproc} cores")
        print(f"{'row':<38} {'seconds':>8} {'runs/s':>8}  note")
        print(f"{'local --parallel 2':<38} {local:>8.2f} {args.runs / local:>8.1f}")
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(
            f"{'dask LocalCluster 2 workers':<38} {dask:>8.2f} {args.runs / dask:>8.1f}  "
            f"{ratio:.2f}x local (target <= {TARGET}x: {verdict}), overhead "
            f"{(dask - local) / args.runs * 1000:+.1f} ms/run"
        )
        print(f"(warm-ups, not timed: local {local_warm:.2f} s, dask {dask_warm:.2f} s)")
        if args.no_scaling:
            return 0
        print()
        print(f"{'dask workers':<14} {'seconds':>8} {'runs/s':>8} {'efficiency':>11}")
        single: float | None = None
        for workers in sorted({1, 2, nproc}):
            seconds = dask if workers == 2 else sweep_seconds(root, "dask", workers, args.runs)[0]
            rate = args.runs / seconds
            single = single or rate
            print(f"{workers:<14} {seconds:>8.2f} {rate:>8.1f} {rate / (workers * single):>10.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

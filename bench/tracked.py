"""What tracking costs: ``python bench/tracked.py [--repeat 3]``.

Two rows, both process wall of real commands on the tiny notebook of ``bench/sweep.py``:

* tracked run overhead at ``--parallel 2``: ``jupyter-mlops sweep`` of 50 runs against the
  same command with 1 run, per extra run (``(wall_50 - wall_1) / 49``: what each tracked run
  adds once the command is up), beside the engine alone (``papermill.execute_notebook`` with
  ``engine_name="mlops"`` on 2 threads, no store, after a warm-up run; seconds / 50);
* a single ``jupyter-mlops run`` against a stock ``papermill`` process on the same notebook;
* the same single run through the command host (``cli_client``, the host warm from the run
  before) against ``python -m jupyter_mlops.cli run`` (in its own process), both with the
  zygote kept warm, in a runtime folder of their own that is cleaned up after.

Both CLI rows run in one project folder whose store was created (and migrated) by an untimed
warm-up command, as a user's store is. Medians of ``--repeat`` samples; the ratio column is
computed from samples taken in the same round. Asserts nothing; prints a table.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep import combinations, write_notebook

RUNS = 50
PARALLEL = 2
TARGET_PER_RUN_MS = 20.0
TARGET_SINGLE_S = 0.5
CLIENT = "import sys; from jupyter_mlops.cli_client import main; sys.exit(main())"


def script(name: str) -> str:
    """The console script next to this interpreter (a pyenv shim adds ~0.1 s of bash)."""
    return str(Path(sys.executable).parent / name)


def wall(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-400:]}")
    return seconds


def sweep_command(runs: int) -> list[str]:
    values = combinations()[:runs]
    alphas = sorted({str(v["alpha"]) for v in values})
    steps = sorted({str(v["steps"]) for v in values}, key=int)
    command = [script("jupyter-mlops"), "sweep", "sweep.ipynb", "-p", "alpha=" + ",".join(alphas)]
    command += ["-p", "steps=" + ",".join(steps), "--parallel", str(PARALLEL)]
    return [*command, "--max-runs", str(runs)]


def engine_alone(source: Path, out: Path) -> float:
    """Seconds per run of the mlops engine on 2 threads (the zygote already warm)."""
    import papermill

    def one(index: int) -> None:
        papermill.execute_notebook(
            str(source),
            str(out / f"engine-{index}.ipynb"),
            parameters=combinations()[index % RUNS],
            engine_name="mlops",
            progress_bar=False,
        )

    one(0)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, range(RUNS)))
    return (time.perf_counter() - started) / RUNS


def through_host(folder: Path, repeat: int) -> tuple[list[float], list[float]]:
    """Process walls of one run through a warm command host and of one in its own process."""
    from jupyter_mlops import cli_client

    runtime = Path(tempfile.mkdtemp(prefix="mlb-", dir="/tmp"))
    saved = {k: os.environ.get(k) for k in ("JUPYTER_MLOPS_RUNTIME_DIR", "JUPYTER_MLOPS_KEEP_WARM")}
    os.environ.update(JUPYTER_MLOPS_RUNTIME_DIR=str(runtime), JUPYTER_MLOPS_KEEP_WARM="120")
    words = ["run", "sweep.ipynb", "-p", "alpha=0.3"]
    hosted, alone = (
        [sys.executable, "-c", CLIENT, *words],
        [sys.executable, "-m", "jupyter_mlops.cli", *words],
    )
    try:
        wall(hosted, folder)  # starts the host and the zygote
        walls: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeat):
            walls[0].append(wall(hosted, folder))
            walls[1].append(wall(alone, folder))
        return walls
    finally:
        for path in runtime.glob("cli-*.host"):
            cli_client.ask(str(path), "stop")
        subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli", "zygotes", "--stop"],
            check=False,
            capture_output=True,
        )
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(runtime, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="samples per row (default 3)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlops-tracked-") as scratch:
        folder = Path(scratch)
        write_notebook(folder)
        out = folder / "out"
        out.mkdir()
        run = [script("jupyter-mlops"), "run", "sweep.ipynb", "-p", "alpha=0.3"]
        stock = [script("papermill"), "sweep.ipynb", str(out / "stock.ipynb"), "-p", "alpha", "0.3"]
        wall(run, folder)  # creates and migrates the store, writes .pyc files
        wall([*stock, "--no-progress-bar"], folder)
        per_run, fixed, single, papermill_wall, ratios = [], [], [], [], []
        for _ in range(options.repeat):
            one = wall(sweep_command(1), folder)
            many = wall(sweep_command(RUNS), folder)
            fixed.append(one)
            per_run.append((many - one) / (RUNS - 1))
            ours = wall(run, folder)
            theirs = wall([*stock, "--no-progress-bar"], folder)
            single.append(ours)
            papermill_wall.append(theirs)
            ratios.append(theirs / ours)
        engine = engine_alone(folder / "sweep.ipynb", out)
        hosted, alone = through_host(folder, options.repeat)
    median = statistics.median
    print(f"tiny notebook, {os.cpu_count()} CPUs, medians of {options.repeat}")
    print(f"{'row':<62} {'ours':>9} {'peer':>9} {'ratio':>7} {'target':>8}")
    row = f"tracked run overhead ms/run at --parallel {PARALLEL} ({RUNS}-run sweep)"
    mark = "" if median(per_run) * 1000 <= TARGET_PER_RUN_MS else "  MISSED"
    print(
        f"{row:<62} {median(per_run) * 1000:>9.1f} {engine * 1000:>9.1f} "
        f"{median(per_run) / engine:>6.1f}x {TARGET_PER_RUN_MS:>6.0f}ms{mark}"
    )
    print(f"  (peer: the engine alone, papermill on {PARALLEL} threads, no store;")
    print(f"   the 1-run sweep command, the fixed part: {median(fixed):.2f} s)")
    mark = "" if median(single) <= TARGET_SINGLE_S else "  MISSED"
    print(
        f"{'single tracked run process wall vs stock papermill process':<62} "
        f"{median(single):>8.2f}s {median(papermill_wall):>8.2f}s "
        f"{median(ratios):>6.1f}x {TARGET_SINGLE_S:>7.1f}s{mark}"
    )
    print("  (ratio: papermill's wall / ours, per round; higher is faster)")
    mark = "" if median(hosted) <= TARGET_SINGLE_S else "  MISSED"
    print(
        f"{'single tracked run through the warm command host vs in-process':<62} "
        f"{median(hosted):>8.2f}s {median(alone):>8.2f}s "
        f"{median(alone) / median(hosted):>6.1f}x {TARGET_SINGLE_S:>7.1f}s{mark}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Drift benchmark: ``python bench/drift.py [--peers] [--fields N] [--window N]``.

A simulation of a deployment's traffic, judged by our drift detector and, with ``--peers``,
by Evidently's default data-drift tests on exactly the same rows:

- **false alarms**: 100 windows of stable traffic (every field drawn from the reference's
  distribution); a window alarms when any field is found drifted. Target: at most 1 in 100.
- **detection delay**: 10 episodes in which one field's mean moves by 0.5 standard
  deviation; the number of windows until the first alarm on that field (target: within 2
  windows of 200 requests).
- **speed**: 100,000 requests x 20 fields counted into the reference's bins (what the serving
  process does per request), then the drift of that window from the binned summaries (target
  for the latter: 0.2 s; the first check of a window size also calibrates, timed apart).

Two reference sizes: 1,000 rows (where Evidently picks p-value tests) and 5,000 rows (where it
picks distances). Evidently runs in ``bench/.peers/evidently-venv`` (created the first time
with ``--peers``: pip install evidently "pandas<3"), never in the product's environment.
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jupyter_mlops.drift import Detector, WindowCounts, summarize  # noqa: E402

BENCH = Path(__file__).resolve().parent
PEER_VENV = BENCH / ".peers" / "evidently-venv"
PEER_SCRIPT = BENCH / "peers" / "evidently_drift.py"
PEER_REQUIREMENTS = ["evidently==0.7.*", "pandas<3"]
STABLE_WINDOWS, EPISODES, EPISODE_WINDOWS = 100, 10, 5
SHIFT = 0.5
SPEED_REQUESTS = 100_000
CHECK_TARGET = 0.2


def rows(rng: random.Random, count: int, shift: float = 0.0) -> list[float]:
    return [round(rng.gauss(shift, 1.0), 6) for _ in range(count)]


def scenario(reference_rows: int, fields: int, window: int, seed: int) -> dict[str, Any]:
    """The rows every detector sees: a reference, stable windows, shifted episodes."""
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(fields)]
    return {
        "reference": {name: rows(rng, reference_rows) for name in names},
        "stable": [{name: rows(rng, window) for name in names} for _ in range(STABLE_WINDOWS)],
        "episodes": [
            [
                {name: rows(rng, window, SHIFT if name == "x0" else 0.0) for name in names}
                for _ in range(EPISODE_WINDOWS)
            ]
            for _ in range(EPISODES)
        ],
    }


def ours(data: dict[str, Any], mode: str) -> tuple[list[int], list[set[str]]]:
    references = {name: summarize(name, values) for name, values in data["reference"].items()}
    detector = Detector(references, mode=mode)

    def drifted(window: dict[str, list[float]]) -> set[str]:
        counts = {}
        for name, values in window.items():
            counter = WindowCounts(references[name])
            for value in values:
                counter.add(value)
            counts[name] = counter.counts
        return {field.field for field in detector.check(counts) if field.drifted}

    stable = [len(drifted(window)) for window in data["stable"]]
    shifted = [drifted(window) for episode in data["episodes"] for window in episode]
    return stable, shifted


def peer(data: dict[str, Any]) -> tuple[list[int], list[int]] | str:
    """Evidently's drifted-column counts for the stable and the shifted windows."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        return "no bench/.peers/evidently-venv (run with --peers)"
    windows = data["stable"] + [w for episode in data["episodes"] for w in episode]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"reference": data["reference"], "windows": windows}, handle)
    done = subprocess.run(
        [str(python), str(PEER_SCRIPT), handle.name],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    Path(handle.name).unlink()
    if done.returncode != 0:
        return f"error: {done.stderr.strip().splitlines()[-1:]}"
    counts: list[int] = json.loads(done.stdout.strip().splitlines()[-1])["drifted"]
    return counts[:STABLE_WINDOWS], counts[STABLE_WINDOWS:]


def delays(alarms: list[bool]) -> list[int | None]:
    """Per episode: the window (1-based) of the first alarm, None when none came."""
    found: list[int | None] = []
    for episode in range(EPISODES):
        flags = alarms[episode * EPISODE_WINDOWS : (episode + 1) * EPISODE_WINDOWS]
        found.append(next((i + 1 for i, flag in enumerate(flags) if flag), None))
    return found


def describe_delays(found: list[int | None]) -> str:
    caught = [d for d in found if d is not None]
    missed = len(found) - len(caught)
    within_two = sum(1 for d in caught if d <= 2)
    text = f"median {statistics.median(caught):g}, max {max(caught)}" if caught else "never"
    return f"{text}; {within_two}/{len(found)} within 2" + (f", {missed} missed" if missed else "")


def install_peer() -> None:
    if (PEER_VENV / "bin" / "python").exists():
        return
    print("installing Evidently into bench/.peers/evidently-venv (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(PEER_VENV / "bin" / "pip"), "install", "-q", *PEER_REQUIREMENTS], check=True
    )


def speed(fields: int) -> tuple[float, float, float]:
    """Seconds to count 100,000 requests x ``fields`` into bins, to calibrate, to check."""
    rng = random.Random(1)
    references = {f"x{i}": summarize(f"x{i}", rows(rng, 5000)) for i in range(fields)}
    counters = {name: WindowCounts(ref) for name, ref in references.items()}
    requests = [{name: rng.gauss(0, 1) for name in references} for _ in range(SPEED_REQUESTS)]
    started = time.perf_counter()
    for request in requests:
        for name, value in request.items():
            counters[name].add(value)
    counting = time.perf_counter() - started
    detector = Detector(references)
    window = {name: counter.counts for name, counter in counters.items()}
    started = time.perf_counter()
    detector.check(window)  # the first check of this window size calibrates
    calibrating = time.perf_counter() - started
    started = time.perf_counter()
    detector.check(window)
    checking = time.perf_counter() - started
    return counting, calibrating, checking


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--peers", action="store_true", help="also run Evidently (installs it)")
    parser.add_argument("--fields", type=int, default=20)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.peers:
        install_peer()

    print(f"{args.fields} numeric fields, windows of {args.window} requests, shift {SHIFT} sd")
    header = f"{'':44} {'ours (calibrated)':>26} {'ours, Evidently rules':>26} {'Evidently':>26}"
    print(header)
    for reference_rows in (1000, 5000):
        data = scenario(reference_rows, args.fields, args.window, args.seed + reference_rows)
        cells_fa, cells_delay = [], []
        for mode in ("calibrated", "evidently"):
            stable, shifted = ours(data, mode)
            cells_fa.append(f"{sum(1 for n in stable if n)}/{STABLE_WINDOWS}")
            cells_delay.append(describe_delays(delays(["x0" in s for s in shifted])))
        evidently = peer(data)
        if isinstance(evidently, str):
            cells_fa.append(evidently[:26])
            cells_delay.append("")
        else:
            stable_counts, shifted_counts = evidently
            cells_fa.append(f"{sum(1 for n in stable_counts if n)}/{STABLE_WINDOWS}")
            # Evidently reports how many columns drifted; one more than the stable fields'
            # noise is not separable here, so any drifted column in a shifted window counts.
            cells_delay.append(describe_delays(delays([n > 0 for n in shifted_counts])))
        label = f"reference {reference_rows:,} rows"
        print(
            f"{label + ': false alarms (any field)':44} " + " ".join(f"{c:>26}" for c in cells_fa)
        )
        print(f"{label + ': windows to detect':44} " + " ".join(f"{c:>26}" for c in cells_delay))

    counting, calibrating, checking = speed(args.fields)
    per_request_us = counting / SPEED_REQUESTS * 1e6
    print(
        f"counting {SPEED_REQUESTS:,} requests x {args.fields} fields into bins: "
        f"{counting:.2f} s ({per_request_us:.1f} us a request)"
    )
    verdict = "ok" if checking <= CHECK_TARGET else "MISSED"
    print(
        f"drift of that window from the binned summaries: {checking * 1000:.2f} ms "
        f"(target {CHECK_TARGET * 1000:.0f} ms: {verdict}); first check of a window size, "
        f"with its calibration: {calibrating:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

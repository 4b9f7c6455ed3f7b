"""Benchmark runner: ``python bench/run.py [--repeat N] [--peers]``.

Prints one plain-text table and writes ``bench/results/latest.json``. Numbers are reported,
never asserted: a missed target shows as ``MISSED`` and a failing row as ``error: …``, and
the run goes on, so the table is useful while a converter is still being written.

Process-wall rows (import, CLI, Kale) run a fresh interpreter, because that is what a user
waits for; in-process rows time ``MLOps().inspect`` / ``MLOps().convert`` in this process,
after one untimed warm-up, to isolate our own work from interpreter and import cost. Every
convert writes into a fresh temp directory so no run sees a previous run's files. See
bench/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import notebooks

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "latest.json"
KALE_VENV = BENCH / ".peers" / "kale-venv"
KALE_INSTALL_LOG = BENCH / ".peers" / "kale-install.log"
KALE_REQUIREMENT = "kubeflow-kale==2.3.*"
KALE_WRAPPER = BENCH / "peers" / "kale_compile.py"

STEPS, CELLS = 200, 1000
TARGETS = ("python", "notebooks", "kfp")
IMPORT_TARGET, CLI_TARGET, KFP_TARGET = 0.3, 1.0, 0.5
PROCESS_TIMEOUT, KALE_TIMEOUT, INSTALL_TIMEOUT = 120, 600, 1800

Prepared = TypeVar("Prepared")


class BenchError(Exception):
    """A row could not be measured; the message goes into the table."""


@dataclass
class Row:
    """One line of the table; ``samples`` keep every timing for the JSON file."""

    name: str
    target: float | None = None
    samples: list[float] = field(default_factory=list)
    peer_samples: list[float] = field(default_factory=list)
    ours_override: float | None = None  # a derived value (import minus interpreter start)
    error: str | None = None
    peer_note: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ours(self) -> float | None:
        if self.ours_override is not None:
            return self.ours_override
        return statistics.median(self.samples) if self.samples else None

    @property
    def peer(self) -> float | None:
        return statistics.median(self.peer_samples) if self.peer_samples else None

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.peer is None or self.ours <= 0:
            return None
        return self.peer / self.ours

    @property
    def status(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        verdict = "-"
        if self.target is not None and self.ours is not None:
            verdict = "ok" if self.ours < self.target else "MISSED"
        return f"{verdict}; peer {self.peer_note}" if self.peer_note else verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ours_s": self.ours,
            "peer_s": self.peer,
            "ratio": self.ratio,
            "target_s": self.target,
            "status": self.status,
            "samples_s": self.samples,
            "peer_samples_s": self.peer_samples,
            **self.detail,
        }


# Timing -------------------------------------------------------------------------------------


def sample(
    action: Callable[[Prepared], object],
    prepare: Callable[[], Prepared],
    repeat: int,
    warmup: int = 1,
) -> list[float]:
    """Seconds per call of ``action(prepare())``; ``prepare`` (a fresh dir) is not timed.

    The warm-up run is not kept: it fills the OS file cache and writes .pyc files, which a
    user's second run would find too; it also surfaces an error before any timing.
    """
    samples: list[float] = []
    for index in range(warmup + repeat):
        prepared = prepare()
        started = time.perf_counter()
        action(prepared)
        elapsed = time.perf_counter() - started
        if index >= warmup:
            samples.append(elapsed)
    return samples


def attempt(row: Row, measure: Callable[[Row], None]) -> Row:
    """Run ``measure(row)``; any exception becomes the row's error instead of ending the run."""
    print(f"  measuring: {row.name}", file=sys.stderr, flush=True)
    try:
        measure(row)
    except Exception as err:  # a benchmark reports every failure, it never stops on one
        row.error = _describe(err)
    return row


def run_process(
    command: list[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; a non-zero exit raises BenchError carrying the last stderr line."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BenchError(f"exit {done.returncode}: {lines[-1] if lines else '(no stderr)'}")
    return done


def _describe(err: Exception) -> str:
    """An exception as one table-sized line; our own BenchError needs no class name."""
    return _one_line(str(err) if isinstance(err, BenchError) else f"{type(err).__name__}: {err}")


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Our rows ------------------------------------------------------------------------------------


def import_rows(repeat: int, scratch: Path) -> list[Row]:
    """``import jupyter_mlops`` in a fresh interpreter: absolute, and minus ``python -c pass``.

    Run from a scratch directory so neither the checkout nor bench/ shadows the package.
    """
    absolute = Row("import jupyter_mlops (process, absolute)", IMPORT_TARGET)
    net = Row("import jupyter_mlops (process, minus `python -c pass`)", IMPORT_TARGET)

    def python_c(code: str) -> Callable[[None], object]:
        return lambda _: run_process([sys.executable, "-c", code], timeout=60, cwd=scratch)

    def measure(row: Row) -> None:
        row.samples = sample(python_c("import jupyter_mlops"), lambda: None, repeat)
        baseline = statistics.median(sample(python_c("pass"), lambda: None, repeat))
        row.detail["python_startup_s"] = baseline
        net.ours_override = max(statistics.median(row.samples) - baseline, 0.0)
        net.detail["python_startup_s"] = baseline

    attempt(absolute, measure)
    net.error = absolute.error
    return [absolute, net]


def inprocess_rows(label: str, notebook: Path, repeat: int, scratch: Path) -> list[Row]:
    """Parse time, then convert time per target with the Plan parsed once beforehand."""
    rows = [attempt(Row(f"parse {label} (in-process inspect)"), _parse_measure(notebook, repeat))]
    for target in TARGETS:
        row = Row(f"convert {label} --to {target} (in-process)")
        rows.append(attempt(row, _convert_measure(notebook, target, repeat, scratch)))
    return rows


def _parse_measure(notebook: Path, repeat: int) -> Callable[[Row], None]:
    def measure(row: Row) -> None:
        from jupyter_mlops.service import MLOps  # here: a broken package fails rows, not the run

        service = MLOps()
        row.samples = sample(lambda _: service.inspect(notebook), lambda: None, repeat)

    return measure


def _convert_measure(
    notebook: Path, target: str, repeat: int, scratch: Path
) -> Callable[[Row], None]:
    def measure(row: Row) -> None:
        from jupyter_mlops.service import MLOps

        service = MLOps()
        plan = service.inspect(notebook)

        def convert(out_dir: Path) -> None:
            result = service.convert(plan, target, out_dir)
            if not result.files:
                raise BenchError(f"--to {target} reported success but wrote no files")
            row.detail["files_written"] = len(result.files)

        row.samples = sample(convert, lambda: _fresh_dir(scratch, target), repeat)

    return measure


def cli_row(notebook: Path, target: str, repeat: int, scratch: Path) -> Row:
    """``jupyter-mlops convert NB --to TARGET -o DIR`` as a user runs it, process wall."""
    row = Row(f"CLI convert {notebook.name} --to {target} (process)", CLI_TARGET)

    def convert(out_dir: Path) -> None:
        command = [*_cli_command(), "convert", str(notebook), "--to", target, "-o", str(out_dir)]
        run_process(command, timeout=PROCESS_TIMEOUT)
        written = [p for p in out_dir.rglob("*") if p.is_file()]
        if not written:
            raise BenchError(f"--to {target} exited 0 but wrote nothing in {out_dir}")
        row.detail["output_bytes"] = sum(p.stat().st_size for p in written)

    def measure(row: Row) -> None:
        row.samples = sample(convert, lambda: _fresh_dir(scratch, f"cli-{target}"), repeat)

    return attempt(row, measure)


def kfp_compiler_row(notebook: Path, repeat: int, scratch: Path) -> Row:
    """``convert --to kfp`` as users get it (our spec emitter, no kfp import) against the kfp
    SDK compiling the same generated module (JUPYTER_MLOPS_KFP_COMPILER=sdk), process wall."""
    row = Row(f"CLI convert {notebook.name} --to kfp vs kfp.compiler (process)", KFP_TARGET)
    row.peer_note = "kfp.compiler on the same _pipeline.py"

    def convert(env: dict[str, str], cpu: list[float]) -> Callable[[Path], None]:
        def once(out_dir: Path) -> None:
            command = [*_cli_command(), "convert", str(notebook), "--to", "kfp", "-o", str(out_dir)]
            before = _children_cpu()
            run_process(command, timeout=PROCESS_TIMEOUT, env=env)
            cpu.append(_children_cpu() - before)
            if not list(out_dir.glob("*_pipeline.yaml")):
                raise BenchError(f"--to kfp exited 0 but wrote no YAML in {out_dir}")

        return once

    def measure(row: Row) -> None:
        ours = {k: v for k, v in os.environ.items() if k != "JUPYTER_MLOPS_KFP_COMPILER"}
        sdk = ours | {"JUPYTER_MLOPS_KFP_COMPILER": "sdk"}
        cpu_ours: list[float] = []
        cpu_sdk: list[float] = []
        row.samples = sample(convert(ours, cpu_ours), lambda: _fresh_dir(scratch, "kfp"), repeat)
        row.peer_samples = sample(
            convert(sdk, cpu_sdk), lambda: _fresh_dir(scratch, "kfp-sdk"), repeat
        )
        # CPU seconds (user + sys) too: on a loaded machine wall time mostly measures the queue
        row.detail["cpu_s"] = statistics.median(cpu_ours[1:])
        row.detail["peer_cpu_s"] = statistics.median(cpu_sdk[1:])
        row.peer_note = (
            f"kfp.compiler on the same _pipeline.py; CPU {row.detail['cpu_s']:.3f} s vs "
            f"{row.detail['peer_cpu_s']:.3f} s"
        )

    return attempt(row, measure)


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli_command() -> list[str]:
    """The console script beside this interpreter (what a venv user runs).

    Not the one on PATH: a pyenv shim there is a bash script that adds its own ~0.1 s.
    """
    script = Path(sys.executable).parent / ("jupyter-mlops" + (".exe" if os.name == "nt" else ""))
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "jupyter_mlops.cli"]


def _fresh_dir(scratch: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=scratch))


# The peer: Kale 2.3 ----------------------------------------------------------------------------


def kale_python() -> Path:
    return KALE_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def kale_version() -> str | None:
    """The installed kubeflow-kale version in the peer venv, read without importing Kale."""
    if not kale_python().is_file():
        return None
    code = "import importlib.metadata as m; print(m.version('kubeflow-kale'))"
    try:
        return run_process([str(kale_python()), "-c", code], timeout=60).stdout.strip()
    except BenchError:
        return None


def install_kale() -> None:
    """Create the peer venv and pip-install Kale 2.3 into it; output goes to a log file."""
    print(
        f"setting up {KALE_REQUIREMENT} in {KALE_VENV} (one-time, a few minutes)…",
        file=sys.stderr,
        flush=True,
    )
    KALE_VENV.parent.mkdir(parents=True, exist_ok=True)
    with KALE_INSTALL_LOG.open("w", encoding="utf-8") as log:
        for command in (
            [sys.executable, "-m", "venv", str(KALE_VENV)],
            [
                str(kale_python()),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                KALE_REQUIREMENT,
            ],
        ):
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            done = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=False
            )
            if done.returncode != 0:
                raise BenchError(
                    f"{command[-1]!r} failed (exit {done.returncode}); see {KALE_INSTALL_LOG}"
                )


def prepare_kale(install: bool) -> str:
    """The Kale version ready to run, installing it if asked; BenchError says why not."""
    version = kale_version()
    if version is None and install:
        install_kale()
        version = kale_version()
    if version is None:
        raise BenchError(
            "kubeflow-kale is not installed in the peer venv"
            + ("" if install else "; run with --peers")
        )
    if not version.startswith("2.3."):
        raise BenchError(f"kubeflow-kale {version} in the peer venv, the baseline is 2.3.*")
    return version


def measure_kale(row: Row, notebook: Path, repeat: int, scratch: Path) -> None:
    """Kale compiling ``notebook`` to KFP YAML, process wall, into ``row``'s peer column.

    TMPDIR points into the scratch dir (Kale leaves one temp dir per compile); HOSTNAME is
    dropped so Kale's PodDefaults probe fails fast the same way on every machine instead of
    trying a Kubernetes API when the benchmark happens to run inside a pod.
    """
    tmp = scratch / "kale-tmp"
    tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "HOSTNAME"} | {"TMPDIR": str(tmp)}

    def compile_once(out_dir: Path) -> None:
        command = [str(kale_python()), str(KALE_WRAPPER), str(notebook), str(out_dir)]
        done = run_process(command, timeout=KALE_TIMEOUT, env=env)
        yaml_path = Path(done.stdout.strip().splitlines()[-1])
        row.detail["peer_output_bytes"] = yaml_path.stat().st_size
        for line in done.stderr.splitlines():
            if line.startswith("KALE_PHASES "):
                row.detail["peer_phases_s"] = json.loads(line.removeprefix("KALE_PHASES "))

    print(
        f"  measuring: Kale 2.3 on {notebook.name} (~10-15 s per run)", file=sys.stderr, flush=True
    )
    row.peer_samples = sample(compile_once, lambda: _fresh_dir(scratch, "kale"), repeat)


def add_peer(row: Row, args: argparse.Namespace, notebook: Path, scratch: Path) -> dict[str, Any]:
    """Fill the peer column of ``row`` with Kale, or say why not; returns the JSON summary."""
    wanted = args.peers or kale_python().is_file()
    if not wanted:
        return {"name": "kubeflow-kale", "skipped": "run with --peers"}
    try:
        version = prepare_kale(install=args.peers)
    except Exception as err:  # the peer is context, never a reason to lose our numbers
        row.peer_note = "unavailable: " + _describe(err)
        return {"name": "kubeflow-kale", "unavailable": _describe(err)}
    try:
        measure_kale(row, notebook, args.peer_repeat, scratch)
    except Exception as err:
        row.peer_note = "error: " + _describe(err)
        return {"name": "kubeflow-kale", "version": version, "error": _describe(err)}
    return {"name": "kubeflow-kale", "version": version, "venv": str(KALE_VENV)}


# Output --------------------------------------------------------------------------------------


def format_table(rows: list[Row]) -> str:
    """Rows as aligned plain text; the status column is last so long errors do not skew it."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    header = ["row", "ours (s)", "peer (s)", "ratio", "target", "status"]
    body = [
        [
            row.name,
            seconds(row.ours),
            "n/a" if row.peer_note and row.peer is None else seconds(row.peer),
            "-" if row.ratio is None else f"{row.ratio:.1f}x",
            "-" if row.target is None else f"< {row.target:g} s",
            row.status,
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header) - 1)]
    lines = []
    for line in [header, *body]:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:], strict=True)]
        lines.append("  ".join([*cells, line[-1]]))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "peer_repeat": args.peer_repeat,
        "chain_steps": STEPS,
        "large_cells": CELLS,
    }


def write_results(path: Path, summary: dict[str, Any], rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**summary, "rows": [row.to_dict() for row in rows]}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# Entry point ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        metavar="N",
        help="timed runs per row (median reported); default 5",
    )
    parser.add_argument(
        "--peer-repeat",
        type=int,
        default=3,
        metavar="N",
        help="timed Kale runs (10-15 s each); default 3",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help=f"measure Kale, installing {KALE_REQUIREMENT} into {KALE_VENV} "
        "if missing (without it Kale runs only if that venv exists)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.peer_repeat < 1:
        parser.error("--repeat and --peer-repeat must be at least 1")
    return args


def measure_all(args: argparse.Namespace, scratch: Path) -> tuple[list[Row], dict[str, Any]]:
    paths = notebooks.write_all(scratch / "notebooks", steps=STEPS, cells=CELLS)
    rows = import_rows(args.repeat, scratch)
    rows += inprocess_rows(f"chain{STEPS}", paths["chain"], args.repeat, scratch)
    rows += inprocess_rows(f"cells{CELLS}", paths["large"], args.repeat, scratch)
    kfp_cli = cli_row(paths["chain"], "kfp", args.repeat, scratch)
    rows += [kfp_cli, cli_row(paths["chain"], "python", args.repeat, scratch)]
    rows.append(kfp_compiler_row(paths["chain"], args.repeat, scratch))
    peer = add_peer(kfp_cli, args, paths["kale_chain"], scratch)
    return rows, {**environment(args), "peer": peer}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jupyter-mlops-bench-") as scratch:
        rows, summary = measure_all(args, Path(scratch))
    print(
        f"jupyter_mlops benchmark: Python {summary['python']}, {summary['cpus']} CPUs, "
        f"median of {args.repeat} (Kale: {args.peer_repeat})"
    )
    print(format_table(rows))
    peer = summary["peer"]
    if "version" in peer:
        print(f"peer: kubeflow-kale {peer['version']} ({peer['venv']})")
    else:
        print(
            f"peer: Kale {'skipped' if 'skipped' in peer else 'unavailable'}: "
            f"{peer.get('skipped') or peer.get('unavailable')}"
        )
    write_results(RESULTS, summary, rows)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``jupyter mlops run|sweep|runs|show|versions|tag``: the run commands of the CLI.

Arguments in, the service called, a readable report (or ``--json``) out. ``cli.py`` owns the
parser's top level and error handling; this module adds the run commands to it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .arguments import (
    add_run_options,
    add_runs_filter_options,
    add_sweep_options,
    parameter_values,
    sweep_options,
    sweep_space,
)
from .reports import (
    alias_history_text,
    describe_run,
    runs_table,
    sweep_report,
    versions_table,
)

if TYPE_CHECKING:
    from .service import MLOps
    from .store import Run

Emit = Callable[[Any, bool], None]


def add_commands(commands: Any) -> None:
    """Add the run commands to the CLI's subparsers."""
    run = commands.add_parser("run", help="run a notebook (or one function), tracked")
    run.add_argument("notebook", help="path to a .ipynb file under the project root")
    run.add_argument("--function", "-f", metavar="NAME", help="run only this function")
    add_run_options(run)
    run.add_argument("--json", action="store_true", help="print the run as JSON")

    sweep = commands.add_parser("sweep", help="run over a grid, list or random sample of values")
    sweep.add_argument("notebook", help="path to a .ipynb file under the project root")
    sweep.add_argument("--function", "-f", metavar="NAME", help="sweep only this function")
    add_sweep_options(sweep)
    sweep.add_argument("--json", action="store_true", help="print the sweep as JSON")

    runs = commands.add_parser("runs", help="list tracked runs, newest first")
    runs.add_argument("--notebook", metavar="PATH")
    add_runs_filter_options(runs)
    runs.add_argument("--cursor", metavar="CURSOR", help="the next page, as printed")
    runs.add_argument("--json", action="store_true")

    show = commands.add_parser("show", help="one run: parameters, metrics, artifacts, error")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of it")
    show.add_argument("--json", action="store_true")

    versions = commands.add_parser("versions", help="the versions of a function, with aliases")
    versions.add_argument("function", metavar="FUNCTION")
    versions.add_argument("--json", action="store_true")

    tag = commands.add_parser("tag", help="point an alias (staging, production…) at a version")
    tag.add_argument("function", metavar="FUNCTION")
    tag.add_argument("version", metavar="VERSION", help="a version hash prefix or an alias")
    tag.add_argument("alias", metavar="ALIAS")
    tag.add_argument("--json", action="store_true")


COMMANDS = ("run", "sweep", "runs", "show", "versions", "tag")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    """Run one of COMMANDS; returns the exit code (1: the run itself did not succeed)."""
    command = arguments.command
    as_json = arguments.json
    if command in ("run", "sweep"):
        from .executor_choice import use_scheduler

        use_scheduler(service, arguments)
        try:
            if command == "sweep":
                return _sweep(service, arguments, emit)
            run = _run_with_interrupt(service, arguments)
        finally:
            service.close_executors()  # a LocalCluster started for the command stops now
        emit(run.to_dict() if as_json else describe_run(run), as_json)
        return 0 if run.status == "succeeded" else 1
    if command == "runs":
        page = service.runs(
            notebook=arguments.notebook,
            function=arguments.function,
            status=arguments.status,
            sweep=arguments.sweep,
            executor=arguments.executor,
            order_by=arguments.sort,
            limit=arguments.limit,
            cursor=arguments.cursor,
        )
        if as_json:
            emit({"runs": [r.to_dict() for r in page.runs], "next": page.next_cursor}, True)
        else:
            text = runs_table(page.runs)
            if page.next_cursor:
                text += f"\nmore: jupyter mlops runs --cursor {page.next_cursor}"
            emit(text, False)
        return 0
    if command == "show":
        run = service.show(arguments.run_id)
        emit(run.to_dict() if as_json else describe_run(run), as_json)
        return 0
    if command == "versions":
        found = service.versions(arguments.function)
        if as_json:
            emit([v.to_dict() for v in found], as_json)
        else:
            history = alias_history_text(service.alias_history(arguments.function))
            emit(versions_table(found) + (f"\n{history}" if history else ""), as_json)
        return 0
    version = service.tag(arguments.function, arguments.version, arguments.alias)
    emit(
        version.to_dict()
        if as_json
        else f"{arguments.alias} -> {version.function} {version.version[:12]}",
        as_json,
    )
    return 0


def _run_with_interrupt(service: MLOps, arguments: argparse.Namespace) -> Run:
    """Ctrl-C cancels the run (its kernel and children are stopped) and still records it."""
    from .execute.foreground import wait_in_foreground

    def cancel() -> None:
        for run_id in service.running():
            service.cancel(run_id)

    return wait_in_foreground(
        lambda: service.run(
            arguments.notebook,
            parameters=parameter_values(arguments.parameter),
            as_text=True,
            function=arguments.function,
            from_run=arguments.from_run,
            idempotency_key=arguments.idempotency_key,
            timeout=arguments.timeout,
            engine=arguments.engine,
            kernel=arguments.kernel,
            executor=arguments.executor,
        ),
        on_interrupt=cancel,
    )


def _sweep(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    space = sweep_space(arguments.parameter)
    progress = _Progress() if sys.stderr.isatty() and not arguments.json else None
    try:
        result = service.sweep(
            arguments.notebook,
            space,
            parallel=arguments.parallel,
            fail_fast=arguments.fail_fast,
            on_progress=progress.update if progress else None,
            **sweep_options(arguments),
        )
    finally:
        if progress:
            progress.close()
    best = result.best.id if result.best else None
    if arguments.json:
        emit(
            {
                "sweep": result.sweep.to_dict(),
                "best": best,
                "runs": [run.to_dict() for run in result.runs],
            },
            True,
        )
    else:
        emit(sweep_report(result), False)
    return 0 if result.sweep.status == "succeeded" else 1


class _Progress:
    """A one-line progress bar on the terminal's stderr."""

    def __init__(self) -> None:
        self.failed = 0

    def update(self, done: int, total: int, run: Run) -> None:
        self.failed += run.status != "succeeded"
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done}/{total} runs, {self.failed} not succeeded")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")

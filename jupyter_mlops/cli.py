"""``jupyter mlops …``: the command line surface (console script ``jupyter-mlops``).

A thin layer: parse arguments, call the MLOps service, print a readable summary or ``--json``,
and turn MLOpsError into ``error: …`` on stderr with exit code 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import (
    cli_ci,
    cli_deploy,
    cli_lineage,
    cli_loop,
    cli_promote,
    cli_store,
    cli_submit,
    cli_zygotes,
)
from ._version import __version__
from .arguments import normalize_parameters
from .cli_runs import COMMANDS, add_commands, dispatch
from .errors import MLOpsError
from .execute import kept
from .execute.prestart import prestart_for
from .lazy_modules import defer_slow_imports
from .reports import config_report, describe

EXIT_USER_ERROR = 2
# Each module adds its subcommands (``add_commands``) and runs them (``dispatch``) for the
# names in its ``COMMANDS``; a new group of commands is one more entry here.
COMMAND_MODULES: tuple[Any, ...] = (
    cli_deploy,
    cli_lineage,
    cli_submit,
    cli_store,
    cli_loop,
    cli_promote,
    cli_ci,
    cli_zygotes,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter mlops",
        description="Tagged notebook cells to versioned functions, pipelines and endpoints.",
    )
    parser.add_argument("--version", action="version", version=f"jupyter-mlops {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = commands.add_parser(
        "inspect",
        help="show what the tags mean: parameters, functions, inputs/outputs, DAG, warnings",
    )
    inspect.add_argument("notebook", help="path to a .ipynb file")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")

    convert = commands.add_parser(
        "convert",
        help="write the notebook as a Python module, per-function notebooks or a Kubeflow pipeline",
    )
    convert.add_argument("notebook", help="path to a .ipynb file")
    convert.add_argument(
        "--to",
        required=True,
        metavar="TARGET",
        help="python, notebooks, kfp, or an installed third-party target",
    )
    convert.add_argument(
        "-o", "--output", default="build", metavar="DIR", help="output directory (default: build)"
    )
    convert.add_argument("--json", action="store_true", help="print the result as JSON")
    convert.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2, nothing written) if the conversion changes or drops anything",
    )
    config = commands.add_parser(
        "config",
        help="show the effective settings and where each comes from (secrets masked)",
    )
    config.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="project root: notebooks and .mlops/ (default: the config files', else here)",
    )
    add_commands(commands)
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    defer_slow_imports()  # before nbformat and papermill are imported: 1-2 s a command
    arguments = build_parser().parse_args(normalize_parameters(words))
    from .project import load_project
    from .service import MLOps  # after argument parsing: --help stays instant

    try:
        project = load_project(overrides={"root_dir": arguments.root}, source="--root")
    except MLOpsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    for warning in project.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    kept.configure(project.keep_warm)  # before any zygote: the next command may use them
    prestart_for(arguments, project)  # overlaps the zygote's start with the imports below
    if arguments.command == "config":
        _print(config_report(project, arguments.json), arguments.json)
        return 0
    service = MLOps(project=project, pooled=False)  # short-lived: no idle connections
    try:
        if arguments.command in COMMANDS:
            return dispatch(service, arguments, _print)
        for module in COMMAND_MODULES:
            if arguments.command in module.COMMANDS:
                return int(module.dispatch(service, arguments, _print))
        if arguments.command == "inspect":
            plan = service.inspect(arguments.notebook)
            _print(plan.to_dict() if arguments.json else describe(plan), arguments.json)
        else:
            result = service.convert(
                arguments.notebook, arguments.to, arguments.output, strict=arguments.strict
            )
            if arguments.json:
                _print(result.to_dict(), True)
            else:
                for path in result.files:
                    print(f"wrote {path}")
                for warning in result.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
    except BrokenPipeError:  # `jupyter mlops inspect nb | head`: the reader left early
        sys.stderr.close()
        return 0
    except MLOpsError as err:
        as_json = getattr(arguments, "json", False)
        for warning in [] if as_json else getattr(err, "warnings", []):
            print(f"warning: {warning}", file=sys.stderr)
        if as_json:
            print(json.dumps(err.to_dict(), ensure_ascii=False), file=sys.stderr)
        else:
            print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def _print(value: Any, as_json: bool) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=repr) if as_json else value)


if __name__ == "__main__":
    sys.exit(main())

"""``jupyter mlops ci run`` and ``jupyter mlops ci init``: a notebook's checks in a pipeline.

``ci run NB`` exits 0 (passed), 3 (the plan warned), 4 (the smoke run failed) or 5 (a gate
failed), 2 for a usage mistake as every command; ``--markdown FILE`` writes the report for a
pull-request comment. ``ci init --github|--gitlab`` writes the pipeline that runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .arguments import add_parameter_option

if TYPE_CHECKING:
    from .service import MLOps

Emit = Callable[[Any, bool], None]
COMMANDS = ("ci",)
CI_HELP = "check a notebook as a pull request's pipeline does, or write that pipeline"


def add_commands(commands: Any) -> None:
    ci = commands.add_parser("ci", help=CI_HELP, description=CI_HELP)
    steps = ci.add_subparsers(dest="ci_command", metavar="STEP", required=True)
    run = steps.add_parser(
        "run",
        help="strict plan, a smoke run of what changed, gates, a Markdown report",
        description="exit 0 passed, 3 plan warnings, 4 run failed, 5 gate failed",
    )
    run.add_argument("notebook")
    add_ci_run_options(run)
    init = steps.add_parser("init", help="write the CI workflow that runs `ci run`")
    system = init.add_mutually_exclusive_group(required=True)
    system.add_argument("--github", action="store_const", const="github", dest="system")
    system.add_argument("--gitlab", action="store_const", const="gitlab", dest="system")
    init.add_argument(
        "--notebook", help="the notebook the pipeline checks (default: the project's only one)"
    )
    init.add_argument("--function", help="the function promoted on the main branch")
    init.add_argument("--gate", help='the gate of both steps, e.g. "accuracy >= production"')
    init.add_argument("--branch", default="main", help="the branch that promotes (main)")
    init.add_argument(
        "--install",
        metavar="COMMAND",
        help="how the job installs (default: pip install jupyter-mlops, and -r "
        "requirements.txt when the project has one)",
    )
    init.add_argument("--force", action="store_true", help="write over an existing file")
    init.add_argument("--json", action="store_true", help="print JSON")


def add_ci_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``ci run``, shared with ``%mlops ci`` (which runs the kernel's notebook)."""
    add_parameter_option(
        parser, help="a CI value (over the [ci: VALUE] in the parameter's comment)"
    )
    parser.add_argument(
        "--parameters-profile",
        metavar="NAME",
        help="read [NAME: VALUE] in the parameters' comments instead of [ci: VALUE]",
    )
    parser.add_argument(
        "--gate", action="append", default=[], metavar="EXPR", help="a gate (repeatable)"
    )
    parser.add_argument(
        "--against", default="production", metavar="ALIAS", help="what changed is against"
    )
    parser.add_argument(
        "--target",
        action="append",
        metavar="TARGET",
        help="converted strictly (repeatable; default: python)",
    )
    parser.add_argument("--markdown", metavar="FILE", help="write the Markdown report here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    from .ci import Workflow, ci_run, markdown, write_workflow

    as_json = bool(arguments.json)
    if getattr(arguments, "ci_command", "run") == "init":
        from .loop.gate import parse

        if arguments.gate:
            parse(arguments.gate)
        readable = arguments.notebook
        if arguments.notebook is None:  # the CI job names it from the repository's root
            from .ci.workflows import only_notebook

            arguments.notebook = only_notebook(Path(service.root_dir))
            readable = Path(service.root_dir) / arguments.notebook
        plan = service.inspect(readable)
        if arguments.function is not None:
            plan.function(arguments.function)  # an unknown one: the error lists them
        root = Path(service.root_dir)
        install = arguments.install or "pip install jupyter-mlops" + (
            " -r requirements.txt" if (root / "requirements.txt").is_file() else ""
        )
        workflow = Workflow(
            notebook=arguments.notebook,
            function=arguments.function,
            gate=arguments.gate,
            install=install,
            branch=arguments.branch,
        )
        written = write_workflow(root, arguments.system, workflow, force=arguments.force)
        shown = written.relative_to(root).as_posix()
        emit({"written": shown} if as_json else f"wrote {shown}", as_json)
        return 0
    if arguments.markdown and not Path(arguments.markdown).parent.is_dir():
        from .errors import MLOpsError  # before the run: its report would have nowhere to go

        folder = Path(arguments.markdown).parent
        raise MLOpsError(f"--markdown {arguments.markdown}: no folder {folder}")
    report = ci_run(
        service,
        arguments.notebook,
        parameters=dict(arguments.parameter),
        gates_given=arguments.gate,
        against=arguments.against,
        targets=arguments.target or ("python",),
        profile=arguments.parameters_profile,
    )
    text = markdown(report)
    if arguments.markdown:
        Path(arguments.markdown).write_text(text, encoding="utf-8")
    emit(report.to_dict() if as_json else text.rstrip("\n"), as_json)
    return report.exit_code

"""``jupyter mlops ci run`` and ``jupyter mlops ci init``: CI for notebooks (``ci/``).

``ci run`` exits with a code per failure (``ci/run.py``): 0 passed, 2 usage error, 3 the
strict plan check reported warnings, 4 a changed function's run failed, 5 a gate failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .arguments import add_parameter_option, parameter_values

if TYPE_CHECKING:
    from .service import MLOps

Emit = Callable[[Any, bool], None]
COMMANDS = ("ci",)

CI_HELP = "CI for notebooks: strict plan, smoke runs of changed functions, gates"


def add_commands(commands: Any) -> None:
    ci = commands.add_parser("ci", help=CI_HELP, description=CI_HELP)
    actions = ci.add_subparsers(dest="ci_command", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="what a pull request runs: strict plan check, changed functions, gates",
        description="Exit codes: 0 passed, 2 usage error, 3 plan warnings, 4 a run failed, "
        "5 a gate failed.",
    )
    run.add_argument("notebook", help="the notebook to check")
    run.add_argument(
        "--parameters-profile",
        metavar="NAME",
        help="the parameters cell's '# mlops:profile:NAME a=1, b=2' line (default: ci, if any)",
    )
    add_parameter_option(run)
    run.add_argument("--gate", metavar="EXPR", help='e.g. "accuracy >= production - 0.01"')
    run.add_argument(
        "--against",
        default="production",
        metavar="ALIAS",
        help="run the functions whose version differs from this alias's (production)",
    )
    run.add_argument("--markdown", metavar="FILE", help="write the Markdown table here")
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    init = actions.add_parser("init", help="write the CI workflow that runs 'ci run'")
    kind = init.add_mutually_exclusive_group(required=True)
    kind.add_argument("--github", action="store_true", help="write .github/workflows/mlops.yml")
    kind.add_argument("--gitlab", action="store_true", help="write .gitlab-ci.yml")
    init.add_argument("--notebook", metavar="NB", help="the notebook (default: the only one)")
    init.add_argument("--function", metavar="NAME", help="the function main promotes")
    init.add_argument("--gate", metavar="EXPR", help="default: its first metric >= production")
    init.add_argument("--force", action="store_true", help="replace an existing file")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    if arguments.ci_command == "init":
        return _init(service, arguments)
    from .ci.report import markdown
    from .ci.run import ci_run

    if arguments.markdown and not Path(arguments.markdown).parent.is_dir():
        from .errors import MLOpsError  # before any run: the report would have nowhere to go

        folder = Path(arguments.markdown).parent
        raise MLOpsError(f"--markdown {arguments.markdown}: no folder {folder}")
    report = ci_run(
        service,
        arguments.notebook,
        parameters=parameter_values(arguments.parameter),
        profile=arguments.parameters_profile,
        gate=arguments.gate,
        against=arguments.against,
    )
    text = markdown(report)
    if arguments.markdown:
        Path(arguments.markdown).write_text(text, encoding="utf-8")
    if arguments.json:
        emit(report.to_dict(), True)
    elif arguments.markdown:
        print(f"ci: {report.outcome} (exit {report.exit_code}); wrote {arguments.markdown}")
    else:
        print(text, end="")
    if report.exit_code and not arguments.json:
        print(f"error: ci {report.outcome}", file=sys.stderr)
    return report.exit_code


def _init(service: MLOps, arguments: argparse.Namespace) -> int:
    from .ci.workflows import choose, find_notebook, write
    from .notebook.reader import read_notebook
    from .paths import locate_notebook

    root = Path(service.root_dir)
    path, name, _ = locate_notebook(root, arguments.notebook or find_notebook(root))
    plan = service.inspect(read_notebook(path, name=name))
    workflow = choose(plan, name, arguments.function, arguments.gate)
    kind = "github" if arguments.github else "gitlab"
    written = write(root, kind, workflow, force=arguments.force)
    print(f"wrote {written}")
    return 0

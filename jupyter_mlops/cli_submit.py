"""``jupyter mlops submit``: a notebook to Kubeflow Pipelines as one pipeline run, followed.

Submitting records the run (executor ``kfp``) and prints it; ``--wait`` follows it to its end
here, a line on stderr for each new state, and exits with its outcome (0 succeeded, 1 failed
or cancelled). Without ``--wait`` the run goes on on the cluster and ``jupyter mlops runs
--executor kfp`` brings its record up to date when it lists it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .arguments import add_submit_options, parameter_values
from .reports import describe_run

if TYPE_CHECKING:
    from .service import MLOps
    from .store import Run

Emit = Callable[[Any, bool], None]
COMMANDS = ("submit",)
EXIT_INTERRUPTED = 130


def add_commands(commands: Any) -> None:
    submit = commands.add_parser(
        "submit",
        help="run the notebook on Kubeflow Pipelines (compiled by the kfp target), tracked",
    )
    submit.add_argument("notebook", help="path to a .ipynb file under the project root")
    add_submit_options(submit)
    submit.add_argument("--json", action="store_true", help="print the run as JSON")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    """Submit (and with ``--wait`` follow); the exit code."""
    from .execute.kfp_remote import KfpAuth

    auth = KfpAuth.from_environment(arguments.existing_token, arguments.cookies)
    run = service.submit(
        arguments.notebook,
        parameter_values(arguments.parameter),
        as_text=True,
        host=arguments.host,
        experiment=arguments.experiment,
        auth=auth,
    )
    print(f"submitted run {run.id}: KFP run {run.external_id}, {run.external_url}", file=sys.stderr)
    if arguments.wait:
        try:
            run = service.kfp_executor().wait(run, auth=auth, on_change=_say_status)
        except KeyboardInterrupt:
            print(
                f"\nstopped following run {run.id}; it goes on on the cluster "
                f"(jupyter mlops runs --executor kfp shows its state)",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
    emit(run.to_dict() if arguments.json else describe_run(run), arguments.json)
    if not arguments.wait:
        return 0
    return 0 if run.status == "succeeded" else 1


def _say_status(run: Run) -> None:
    print(f"run {run.id[:12]}: {run.status}", file=sys.stderr, flush=True)

"""The command-line grammar the CLI and the ``%mlops`` magic share.

Both surfaces take parameters the papermill way, ``-p NAME VALUE``, and also as one word,
``-p NAME=VALUE`` (the form people type in a notebook). argparse cannot take "one or two
words" for an option without swallowing a positional argument that follows, so the words
are normalized first: ``-p NAME=VALUE`` becomes ``-p NAME VALUE`` and the option keeps
``nargs=2``. A first word without ``=`` is a name and the next word its value, so a value may
itself contain ``=`` (``-p query a=b``). Sweep values are split on commas by
:func:`~jupyter_mlops.execute.params.split_choices` (brackets and quotes keep theirs).

The options themselves (``--from``, ``--strategy``, ``--parallel``…) are added here once, so
``jupyter mlops sweep`` and ``%mlops sweep`` cannot drift apart.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from typing import Any

PARAMETER_OPTIONS = ("-p", "--parameter")
_NAME_IS_VALUE = re.compile(r"[^\s=-][^\s=]*=")  # NAME=…, not a lone '=' or an option


# Options whose value is itself a list of options (``policy --sweep '-p C 0.1,1'``): argparse
# would read a value starting with "-p" as the option -p, so it is passed as --sweep=VALUE.
OPTIONS_OF_OPTIONS = ("--sweep",)


def normalize_parameters(argv: Sequence[str]) -> list[str]:
    """``-p NAME=VALUE`` (and ``--parameter=NAME=VALUE``) as ``-p NAME VALUE``."""
    words: list[str] = []
    pending = list(argv)
    index = 0
    while index < len(pending):
        word = pending[index]
        index += 1
        if word.startswith("--parameter="):
            pending.insert(index, word.removeprefix("--parameter="))
            word = "--parameter"
        value = pending[index] if index < len(pending) else ""
        if word in OPTIONS_OF_OPTIONS and value.startswith("-") and " " in value.strip():
            words.append(f"{word}={value}")
            index += 1
            continue
        words.append(word)
        if word in PARAMETER_OPTIONS and index < len(pending):
            following = pending[index]
            if _NAME_IS_VALUE.match(following):
                name, _, value = following.partition("=")
                words += [name, value]
                index += 1
    return words


def add_parameter_option(
    parser: argparse.ArgumentParser, *, sweep: bool = False, help: str | None = None
) -> None:
    """``-p NAME VALUE`` (or ``-p NAME=VALUE``), repeatable; for a sweep VALUE is a list;
    ``help`` says what the values are for where the command gives them another meaning."""
    parser.add_argument(
        *PARAMETER_OPTIONS,
        dest="parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUES" if sweep else "VALUE"),
        help=help
        or (
            "values separated by commas (brackets and quotes keep their commas); "
            "also -p NAME=VALUES"
            if sweep
            else "a parameter value, parsed by its declared type (papermill's -p); "
            "also -p NAME=VALUE"
        ),
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--kernel`` (papermill's ``-k``) for this run or sweep only."""
    parser.add_argument(
        "--engine",
        choices=["mlops", "papermill"],
        help="'mlops': a warm, forked kernel per run (the default); 'papermill': stock "
        "papermill, a new kernel per run",
    )
    parser.add_argument(
        "--kernel",
        "-k",
        metavar="NAME",
        help="run on this installed kernel instead of the notebook's kernelspec "
        "(for notebooks with none, or with one not installed here)",
    )


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """``--executor NAME``, and for the dask executor ``--scheduler ADDRESS`` and ``--retries``."""
    parser.add_argument(
        "--executor",
        metavar="NAME",
        help="where the runs execute: local (default: c.MLOps.executor), dask, or a "
        "registered executor",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the Dask scheduler for --executor dask, e.g. tcp://10.0.0.5:8786 "
        "(default: c.MLOps.dask_address, else a LocalCluster for the command)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="run again, up to N times, a run whose Dask worker was lost "
        "(default: c.DaskExecutor.retries, 0: it fails as 'worker lost')",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """What ``run`` takes besides the notebook and function: parameters, inputs, limits."""
    add_parameter_option(parser)
    add_engine_options(parser)
    add_executor_options(parser)
    parser.add_argument("--from", dest="from_run", metavar="RUN_ID", help="inputs from this run")
    parser.add_argument(
        "--idempotency-key", metavar="KEY", help="a second submit returns the first run"
    )
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="limit for the whole run")


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """What ``sweep`` takes besides the notebook and function."""
    add_parameter_option(parser, sweep=True)
    add_engine_options(parser)
    add_executor_options(parser)
    parser.add_argument("--from", dest="from_run", metavar="RUN_ID", help="inputs from this run")
    parser.add_argument("--strategy", choices=["grid", "list", "random"], default="grid")
    parser.add_argument("--max-runs", type=int, metavar="N", help="at most N runs")
    parser.add_argument("--seed", type=int, help="seed of the random strategy")
    parser.add_argument("--parallel", type=int, default=1, metavar="N", help="runs at once")
    parser.add_argument("--select", metavar="max:METRIC|min:METRIC", help="mark the best run")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")


def sweep_options(arguments: argparse.Namespace) -> dict[str, Any]:
    """The options of ``add_sweep_options`` as ``MLOps.prepare_sweep`` takes them."""
    return {
        "as_text": True,
        "function": arguments.function,
        "strategy": arguments.strategy,
        "max_runs": arguments.max_runs,
        "seed": arguments.seed,
        "select": arguments.select,
        "from_run": arguments.from_run,
        "engine": arguments.engine,
        "kernel": arguments.kernel,
        "executor": arguments.executor,
    }


def add_runs_filter_options(parser: argparse.ArgumentParser) -> None:
    """What ``runs`` takes to choose and order the runs it lists."""
    parser.add_argument("--function", metavar="NAME")
    parser.add_argument("--status", metavar="STATUS")
    parser.add_argument("--sweep", metavar="SWEEP_ID")
    parser.add_argument(
        "--executor", metavar="NAME", help="only runs of this executor (local, kfp, ...)"
    )
    parser.add_argument("--sort", default="created_at", metavar="created_at|metric:NAME")
    parser.add_argument("--limit", type=int, default=20, metavar="N")


def parameter_values(pairs: Iterable[Sequence[str]]) -> dict[str, str]:
    """``[[name, text], …]`` from ``-p`` as a mapping (a later ``-p`` of a name wins)."""
    return {pair[0]: pair[1] for pair in pairs}


def sweep_space(pairs: Iterable[Sequence[str]]) -> dict[str, list[str]]:
    """``[[name, "0.1,1"], …]`` from a sweep's ``-p`` as the texts of each name's values."""
    from .execute.params import split_choices

    return {name: split_choices(values) for name, values in pairs}


def add_submit_options(parser: argparse.ArgumentParser) -> None:
    """What ``submit`` takes: the KFP server, the experiment, following, parameters, auth.

    Auth is the kfp client's own (its option names); a token given here or in
    ``KF_PIPELINES_TOKEN`` goes to the server and is never printed or recorded.
    """
    add_parameter_option(parser)
    parser.add_argument(
        "--host",
        metavar="URL",
        help="the KFP API server, e.g. https://kfp.example.org "
        "(default: c.KfpExecutor.host, else KF_PIPELINES_ENDPOINT)",
    )
    parser.add_argument(
        "--experiment",
        metavar="NAME",
        help="the KFP experiment (default: c.KfpExecutor.experiment)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the run to its end; exit 0 if it succeeded, 1 if it failed or was cancelled",
    )
    parser.add_argument(
        "--existing-token",
        metavar="TOKEN",
        help="a bearer token for the KFP server (better: KF_PIPELINES_TOKEN in the environment)",
    )
    parser.add_argument(
        "--cookies", metavar="COOKIES", help="cookies for the KFP server ('name=value; ...')"
    )

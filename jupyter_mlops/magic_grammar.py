"""The ``%mlops`` grammar: its usage text and its argparse parser.

Apart from ``magics.py`` because the grammar is a table (the CLI's options, with FUNCTION
first and the notebook optional) that says nothing about how a command is carried out; the
magic only dispatches on what this parser returns. Mistakes become one ``UsageError`` line,
never an exit of the kernel.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from IPython.core.error import UsageError

from .arguments import (
    add_run_options,
    add_runs_filter_options,
    add_submit_options,
    add_sweep_options,
)
from .cli_ci import add_ci_run_options
from .cli_deploy import add_deploy_options, add_lifecycle_commands
from .cli_lineage import AUDIT_HELP, LINEAGE_HELP, add_audit_options, add_lineage_options
from .cli_loop import POLICY_HELP, WATCH_HELP, add_policy_options
from .cli_promote import EVENTS_HELP, PROMOTE_HELP, add_events_options, add_promote_options

USAGE = """\
%mlops COMMAND [options]      (every command takes --notebook PATH; COMMAND -h for its options)

  inspect                          parameters, functions, inputs/outputs, DAG, warnings
  run [FUNCTION] -p NAME=VALUE     run the notebook or one function, tracked; returns the Run
      [--from RUN] [--timeout S]
  sweep [FUNCTION] -p NAME=V1,V2   run a grid (or list, random sample) of values
      [--parallel N] [--select max:METRIC] [--strategy grid|list|random]
      [--max-runs N] [--seed S] [--fail-fast]
  submit --host URL -p NAME=VALUE  the notebook as a Kubeflow pipeline run, tracked
      [--experiment E] [--wait]    (--wait: follow it to its end; returns the Run)
  runs [--function F] [--status S] [--limit N] [--all]
                                   this notebook's runs, newest first (--all: every notebook)
  show RUN                         one run: parameters, metrics, artifacts, error
  cancel RUN                       cancel a queued or running run
  versions FUNCTION                the versions of a function, with aliases
  tag FUNCTION VERSION ALIAS       point an alias (staging, production…) at a version
  diff FUNCTION A B                the code of two versions (hash prefixes or aliases)
  convert --to kfp|python|notebooks [-o DIR] [--strict]
  deploy FUNCTION [--version V | --alias A] [--from RUN] [--name N] [--port P]
                                   serve it as an HTTP endpoint; again: a new version, same URL
                                   (a new token goes to mlops_tokens[NAME], not the output)
  deployments [NAME] | logs NAME | undeploy NAME [--delete] | rollback NAME [--to V]
  promote FUNCTION --to ALIAS [--gate "accuracy >= production"] [--run RUN]
                                   move the alias to a run that passes the gate
  policy [DEPLOYMENT] [--retrain NB --gate G --promote A --after N …] | events [NAME]
                                   retraining policies; the loop's timeline with ids
  watch                            one pass of the retraining loop over the policies
  ci [--gate G] [-p NAME VALUE]    strict plan, smoke run of what changed, gates, a report
  lineage NAME | --data PATH | --openlineage RUN
                                   what is behind a deployment or function, what is
                                   downstream of a data set, OpenLineage events
  audit NAME                       who ran, moved aliases and deployed, newest first
  config                           the effective settings and where each comes from
  help                             this text

The notebook is read as SAVED on disk (save it first); the sidebar runs live, unsaved content.
Without --notebook it is the notebook this kernel was started for (JPY_SESSION_NAME).
"""


class HelpShownError(Exception):
    """argparse printed a help text (``-h``); nothing else to do."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one UsageError line instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError(message or f"{self.prog}: error")
        raise HelpShownError()


def build_parser() -> argparse.ArgumentParser:
    """The ``%mlops`` grammar: the CLI's, with FUNCTION first and the notebook optional."""
    parser = _Parser(prog="%mlops", add_help=False, usage=USAGE.replace("%", "%%"))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument(
        "--notebook",
        metavar="PATH",
        help="the saved .ipynb to use (default: the notebook of this kernel)",
    )

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=text, description=text, parents=[common], prog=f"%mlops {name}"
        )
        return sub

    command("inspect", "parameters, functions, inputs/outputs, DAG and warnings")
    run = command("run", "run the notebook, or one function, tracked")
    run.add_argument("function", nargs="?", metavar="FUNCTION")
    add_run_options(run)
    sweep = command("sweep", "run over a grid, list or random sample of values")
    sweep.add_argument("function", nargs="?", metavar="FUNCTION")
    add_sweep_options(sweep)
    add_submit_options(command("submit", "run the notebook on Kubeflow Pipelines, tracked"))
    runs = command("runs", "tracked runs of this notebook, newest first")
    add_runs_filter_options(runs)
    runs.add_argument("--all", action="store_true", help="runs of every notebook in the store")
    command("show", "one run").add_argument("run_id", metavar="RUN")
    command("cancel", "cancel a queued or running run").add_argument("run_id", metavar="RUN")
    command("versions", "the versions of a function").add_argument("function", metavar="FUNCTION")
    tag = command("tag", "point an alias at a version of a function")
    tag.add_argument("function", metavar="FUNCTION")
    tag.add_argument("version", metavar="VERSION", help="a version hash prefix or an alias")
    tag.add_argument("alias", metavar="ALIAS")
    diff = command("diff", "the code of two versions of a function")
    diff.add_argument("function", metavar="FUNCTION")
    diff.add_argument("a", metavar="A", help="a version hash prefix or an alias")
    diff.add_argument("b", metavar="B")
    convert = command("convert", "write a Python module, function notebooks or a KFP pipeline")
    convert.add_argument("--to", required=True, metavar="TARGET")
    convert.add_argument("-o", "--output", default="build", metavar="DIR")
    convert.add_argument("--strict", action="store_true", help="fail if anything is changed")
    deploy = command("deploy", "serve a function as an HTTP endpoint (again: new version)")
    add_deploy_options(deploy, function_flag=False)
    add_lifecycle_commands(command)
    add_promote_options(command("promote", PROMOTE_HELP), in_magic=True)
    add_policy_options(command("policy", POLICY_HELP))
    add_events_options(command("events", EVENTS_HELP))
    watch = command("watch", WATCH_HELP + ": one pass (the Jupyter server runs them by itself)")
    watch.add_argument("--json", action="store_true", help="what the pass did, as JSON")
    add_ci_run_options(command("ci", "what a pull request's pipeline checks: `ci run`"))
    add_lineage_options(command("lineage", LINEAGE_HELP))
    add_audit_options(command("audit", AUDIT_HELP))
    command("config", "the effective settings (secrets masked) and where each comes from")
    command("help", "the list of commands")
    return parser

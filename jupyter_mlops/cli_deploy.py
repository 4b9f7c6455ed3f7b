"""``jupyter mlops deploy|deployments|logs|undeploy|rollback``: the deployment commands.

The options are defined once here and shared with ``%mlops deploy``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import MLOps

Emit = Callable[[Any, bool], None]
COMMANDS = ("deploy", "deployments", "logs", "undeploy", "rollback", "drift")


def add_deploy_options(deploy: argparse.ArgumentParser, *, function_flag: bool = True) -> None:
    if function_flag:
        deploy.add_argument("--function", "-f", required=True, metavar="NAME", help="to serve")
    else:
        deploy.add_argument("function", metavar="FUNCTION", help="the function to serve")
    deploy.add_argument("--name", help="deployment name (default: the function's, with dashes)")
    which = deploy.add_mutually_exclusive_group()
    which.add_argument("--version", help="serve this version (a prefix) instead of the notebook's")
    which.add_argument("--alias", help="serve the version an alias (production…) points at")
    which.add_argument(
        "--follow",
        metavar="ALIAS",
        help="serve what ALIAS points at and redeploy whenever it moves",
    )
    deploy.add_argument(
        "--from", dest="from_run", metavar="RUN_ID", help="bind upstream inputs from this run"
    )
    deploy.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    deploy.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    deploy.add_argument("--workers", type=int, help="serving processes (default 1)")
    deploy.add_argument("--timeout", type=float, help="seconds per request (default 30)")
    deploy.add_argument("--max-body", type=int, help="bytes per request body (default 1 MiB)")
    deploy.add_argument(
        "--sample-rate", type=float, help="share of requests kept for drift analysis (0.1)"
    )
    deploy.add_argument(
        "--monitor-interval",
        type=float,
        metavar="SECONDS",
        help="seconds per monitoring window: how soon requests count for drift (default 5)",
    )
    deploy.add_argument(
        "--use-defaults", action="store_true", help="let requests leave out defaulted fields"
    )
    deploy.add_argument("--new-token", action="store_true", help="replace the bearer token")
    deploy.add_argument(
        "--replace",
        action="store_true",
        help="take over a name that serves another notebook's or function's deployment "
        "(same port, new token)",
    )


def deploy_options(arguments: argparse.Namespace) -> dict[str, Any]:
    """The service's keyword arguments from parsed deploy options."""
    options = {
        key: getattr(arguments, key)
        for key in ("workers", "timeout", "max_body", "sample_rate", "monitor_interval")
        if getattr(arguments, key) is not None
    }
    if arguments.use_defaults:
        options["use_defaults"] = True
    _check_options(options, arguments.port)
    return {
        "name": arguments.name,
        "version": arguments.version,
        # A deployment records the alias it serves and follows it (deploy/follow.py).
        "alias": arguments.alias or arguments.follow,
        "from_run": arguments.from_run,
        "host": arguments.host,
        "port": arguments.port,
        "options": options,
        "new_token": arguments.new_token,
        "replace": arguments.replace,
    }


def _check_options(options: dict[str, Any], port: int) -> None:
    from .errors import ParameterError

    if not 0 <= port <= 65535:
        raise ParameterError(f"--port {port} is not within 0..65535")
    for key in ("workers", "max_body"):
        if key in options and options[key] < 1:
            raise ParameterError(f"--{key.replace('_', '-')} must be at least 1")
    if "timeout" in options and options["timeout"] <= 0:
        raise ParameterError("--timeout must be positive")
    if "monitor_interval" in options and not 0.1 <= options["monitor_interval"] <= 3600:
        raise ParameterError("--monitor-interval must be within 0.1..3600 seconds")
    if "sample_rate" in options and not 0 <= options["sample_rate"] <= 1:
        raise ParameterError("--sample-rate must be within 0..1")


def add_lifecycle_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """deployments, logs, undeploy and rollback: the same for the CLI and the magic."""
    listing = command("deployments", "list deployments with their status")
    listing.add_argument("name", nargs="?", help="show one deployment in detail")
    listing.add_argument(
        "--restore", action="store_true", help="first restart those left running (after a reboot)"
    )
    logs = command("logs", "the serving log of a deployment")
    logs.add_argument("name")
    logs.add_argument("--lines", "-n", type=int, default=100, help="default: %(default)s")
    undeploy = command("undeploy", "stop a deployment (it can be started again)")
    undeploy.add_argument("name")
    undeploy.add_argument(
        "--delete", action="store_true", help="also forget it: history, snapshots, token"
    )
    rollback = command("rollback", "serve the version deployed before")
    rollback.add_argument("name")
    rollback.add_argument("--to", metavar="VERSION", help="a version deployed before (prefix)")
    drift = command("drift", "drift of a deployment's request fields against the training data")
    drift.add_argument("name")
    drift.add_argument(
        "--window", type=int, default=200, help="requests per judged window (%(default)s)"
    )
    drift.add_argument(
        "--mode",
        choices=("calibrated", "evidently", "mlrun"),
        default="calibrated",
        help="thresholds: calibrated (default), Evidently's fixed ones, MLRun's bands",
    )


def add_commands(commands: Any) -> None:
    deploy = commands.add_parser(
        "deploy", help="serve a function as an HTTP endpoint (again: a new version, same URL)"
    )
    deploy.add_argument("notebook", help="path to a .ipynb file under the project root")
    add_deploy_options(deploy)
    deploy.add_argument("--json", action="store_true")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=text)
        sub.add_argument("--json", action="store_true")
        return sub

    add_lifecycle_commands(command)


def dispatch(
    service: MLOps,
    arguments: argparse.Namespace,
    emit: Emit,
    keep_token: Callable[[str, str], str] | None = None,
) -> int:
    """Run one of COMMANDS. ``keep_token(name, token)`` (the magic's) keeps a new token out
    of the printed report and returns the line that says where it went instead."""
    from .deploy.views import deployment_view, deployments_table, describe_deployment

    deployments = service.deployments
    as_json = getattr(arguments, "json", False)
    command = arguments.command
    if command == "deploy":
        deployment, token = deployments.deploy(
            arguments.notebook, arguments.function, **deploy_options(arguments)
        )
        view = deployment_view(deployments, deployment)
        if as_json:
            emit({"deployment": view, "token": token}, True)
        elif token and keep_token is not None:
            emit(describe_deployment(view) + "\n" + keep_token(view["name"], token), False)
        else:
            emit(describe_deployment(view, token), False)
    elif command == "deployments":
        if arguments.restore:
            restored = deployments.restore()
            if restored and not as_json:
                emit(f"restoring {', '.join(restored)}", False)
        if arguments.name:
            view = deployment_view(deployments, deployments.get(arguments.name))
            emit({"deployment": view} if as_json else describe_deployment(view), as_json)
        else:
            views = [deployment_view(deployments, d) for d in deployments.every()]
            emit({"deployments": views} if as_json else deployments_table(views), as_json)
    elif command == "logs":
        lines = deployments.logs(arguments.name, arguments.lines)
        emit({"lines": lines} if as_json else "\n".join(lines), as_json)
    elif command == "undeploy":
        if arguments.delete:
            deployments.delete(arguments.name)
            emit({"deleted": arguments.name} if as_json else f"deleted {arguments.name}", as_json)
        else:
            view = deployment_view(deployments, deployments.stop(arguments.name))
            emit({"deployment": view} if as_json else f"{view['name']}: {view['status']}", as_json)
    elif command == "drift":
        from .drift.report import describe_report

        report = deployments.drift(arguments.name, window=arguments.window, mode=arguments.mode)
        emit(report if as_json else describe_report(report), as_json)
    else:
        view = deployment_view(deployments, deployments.rollback(arguments.name, arguments.to))
        emit({"deployment": view} if as_json else describe_deployment(view), as_json)
    return 0

"""``jupyter mlops policy`` and ``jupyter mlops watch``: the loop's command line.

``policy NAME --retrain NB [...]`` sets the policy of deployment NAME, ``policy NAME`` shows
it, ``policy NAME --remove`` removes it and ``policy`` lists them all. ``watch`` runs the
loop in the foreground (``--once``: one pass), for users without a Jupyter server.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .arguments import add_parameter_option
from .loop.policy import APPROVALS, format_duration

if TYPE_CHECKING:
    from .loop.policy import Policy
    from .loop.watch import Outcome
    from .service import MLOps

Emit = Callable[[Any, bool], None]
COMMANDS = ("policy", "watch")

POLICY_HELP = "retrain, gate and promote when a deployment drifts (or on a schedule)"
WATCH_HELP = "run the policies in the foreground (no Jupyter server needed)"


def add_commands(commands: Any) -> None:
    policy = commands.add_parser("policy", help=POLICY_HELP, description=POLICY_HELP)
    add_policy_options(policy)
    watch = commands.add_parser("watch", help=WATCH_HELP, description=WATCH_HELP)
    watch.add_argument("--once", action="store_true", help="one pass over the policies, then exit")
    watch.add_argument(
        "--interval", type=float, default=10.0, metavar="SECONDS", help="between passes (10)"
    )
    watch.add_argument("--json", action="store_true", help="print what each pass did as JSON")


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``policy``, shared with ``%mlops policy``."""
    parser.add_argument("deployment", nargs="?", help="the deployment (none: list the policies)")
    parser.add_argument("--retrain", metavar="NOTEBOOK", help="the notebook that trains")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--function", metavar="NAME", help="run this function (and its inputs)")
    what.add_argument(
        "--sweep",
        metavar="'-p NAME V1,V2 …'",
        help="sweep the whole notebook over these parameters; the sweep's best is the challenger",
    )
    add_parameter_option(parser, help="a parameter of every retraining run (repeatable)")
    parser.add_argument("--gate", metavar="EXPR", help='e.g. "accuracy >= production - 0.01"')
    parser.add_argument(
        "--live-gate",
        metavar="EXPR",
        help='kept while serving after a rollover, else rolled back: e.g. "p99_ms <= before + 50 '
        'and error_rate <= 0.02" (error_rate, requests, p50_ms, p90_ms, p99_ms, max_ms)',
    )
    parser.add_argument(
        "--promote", default="production", metavar="ALIAS", help="the alias to move (production)"
    )
    parser.add_argument(
        "--approval",
        choices=APPROVALS,
        default="auto",
        help="manual: move 'staging' and leave the promotion to a person (default: auto)",
    )
    parser.add_argument(
        "--after", type=int, default=2, metavar="N", help="drifted windows that fire it (2)"
    )
    parser.add_argument(
        "--within", default="1h", metavar="DURATION", help="…counted within this long (1h)"
    )
    parser.add_argument(
        "--cooldown", default="1h", metavar="DURATION", help="the least time between firings (1h)"
    )
    parser.add_argument(
        "--schedule", metavar="DURATION", help="also fire this often, drift or not (e.g. 1d)"
    )
    parser.add_argument("--disable", action="store_true", help="keep the policy, do not fire it")
    parser.add_argument("--remove", action="store_true", help="remove the deployment's policy")
    parser.add_argument("--json", action="store_true", help="print JSON")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    if arguments.command == "watch":
        return _watch(service, arguments, emit)
    return _policy(service, arguments, emit)


def _watch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    """One pass (``--once``) or passes until interrupted; what each did is printed."""
    import time

    from .loop.policy import PolicyError
    from .loop.watch import Watcher

    if arguments.interval <= 0:
        raise PolicyError(f"--interval: more than 0 seconds, not {arguments.interval}")
    watcher = Watcher(service)
    as_json = bool(arguments.json)
    while True:
        for outcome in watcher.tick():
            emit(outcome.to_dict() if as_json else describe_outcome(outcome), as_json)
        if arguments.once:
            return 0
        try:
            time.sleep(arguments.interval)
        except KeyboardInterrupt:
            return 0


def describe_outcome(outcome: Outcome) -> str:
    """What one pass did for a deployment, in a few lines."""
    why = outcome.trigger.reason if outcome.trigger else outcome.action
    lines = [f"{outcome.deployment}: {why}"]
    if outcome.sweep:
        lines.append(f"  sweep {outcome.sweep[:12]}")
    if outcome.run:
        lines.append(f"  {'champion' if outcome.action == 'rolled back' else 'challenger'} run "
                     f"{outcome.run[:12]}")  # fmt: skip
    lines.append(f"  {outcome.message}")
    return "\n".join(lines)


def _policy(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    manager = service.policies
    as_json = bool(arguments.json)
    name = arguments.deployment
    if name is None:
        policies = manager.every()
        if as_json:
            emit([policy.to_dict() for policy in policies], True)
        else:
            emit("\n".join(describe_policy(p) for p in policies) or "no policies", False)
        return 0
    if arguments.remove:
        manager.remove(name)
        emit({"removed": name} if as_json else f"removed the policy of {name}", as_json)
        return 0
    if arguments.retrain is None:
        policy = manager.get(name)
    else:
        policy = manager.set(
            name,
            notebook=arguments.retrain,
            function=arguments.function,
            sweep=arguments.sweep,
            parameters=dict(arguments.parameter),
            gate=arguments.gate,
            live_gate=arguments.live_gate,
            promote=arguments.promote,
            approval=arguments.approval,
            after=arguments.after,
            within=arguments.within,
            cooldown=arguments.cooldown,
            schedule=arguments.schedule,
            enabled=not arguments.disable,
        )
    emit(policy.to_dict() if as_json else describe_policy(policy), as_json)
    return 0


def describe_policy(policy: Policy) -> str:
    """A policy in a few lines, as ``policy NAME`` prints it."""
    what = f"function {policy.function}" if policy.function else "the whole notebook"
    if policy.sweep is not None:
        grid = " ".join(f"-p {k} {','.join(map(str, v))}" for k, v in policy.sweep.items())
        what = f"a sweep {grid}"
    fixed = " ".join(f"-p {k} {v}" for k, v in policy.parameters.items())
    when = f"after {policy.after} drifted window(s) within {format_duration(policy.within)}"
    if policy.schedule is not None:
        when += f", and every {format_duration(policy.schedule)}"
    lines = [
        f"policy of {policy.deployment}" + ("" if policy.enabled else " (disabled)"),
        f"  retrain: {policy.notebook}, {what}" + (f" {fixed}" if fixed else ""),
        f"  when: {when}; cooldown {format_duration(policy.cooldown)}",
        f"  gate: {policy.gate or '(none: any successful run passes)'}",
        f"  after a rollover: {policy.live_gate or 'the default error-rate check'}"
        + (" (and the default error-rate check)" if policy.live_gate else ""),
        f"  then: move {policy.target_alias}"
        + (
            f" (manual approval: a person promotes to {policy.promote})"
            if policy.approval == "manual"
            else ""
        ),
    ]
    if policy.last_fired_at is not None:
        lines.append(f"  last fired: {policy.last_fired_at.isoformat()}: {policy.last_outcome}")
    return "\n".join(lines)

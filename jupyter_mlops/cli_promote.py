"""``jupyter mlops promote`` and ``jupyter mlops events``: the loop's steps by hand.

``promote NB --function F --to ALIAS [--gate EXPR] [--run RUN]`` judges a run of ``F``
against the champion behind the alias and moves the alias when the gate passes (exit 1 and
each failed clause when it does not); ``events NAME`` prints the loop's timeline of a
deployment or a function (drift, run, gate, promote, redeploy, rollback, with ids).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loop.promotion import Promotion
    from .service import MLOps
    from .store.loop_events import LoopEvent

Emit = Callable[[Any, bool], None]
COMMANDS = ("promote", "events")
EXIT_GATE_FAILED = 1
# The refs a timeline line shows: the ids that link one step to another (the rest is --json's).
ID_REFS = (
    "run_id", "sweep", "champion", "version", "alias", "alias_history",
    "cause_event", "gate_event", "promote_event", "redeploy_event",
)  # fmt: skip  # the command worked, the challenger did not pass: nothing moved

PROMOTE_HELP = "move an alias (production…) to a run of a function when it passes a gate"
EVENTS_HELP = "the loop's timeline of a deployment or function: drift, runs, gates, promotions"


def add_commands(commands: Any) -> None:
    promote = commands.add_parser("promote", help=PROMOTE_HELP, description=PROMOTE_HELP)
    add_promote_options(promote)
    events = commands.add_parser("events", help=EVENTS_HELP, description=EVENTS_HELP)
    add_events_options(events)


def add_promote_options(parser: argparse.ArgumentParser, *, in_magic: bool = False) -> None:
    """The options of ``promote``; ``%mlops promote FUNCTION`` names the function first
    (its notebook is the kernel's, or ``--notebook``)."""
    if in_magic:
        parser.add_argument("function", metavar="FUNCTION", help="the function")
    else:
        parser.add_argument("notebook", help="the notebook the function is in")
        parser.add_argument("--function", required=True, metavar="NAME", help="the function")
    parser.add_argument("--to", required=True, metavar="ALIAS", help="the alias to move")
    parser.add_argument(
        "--gate", metavar="EXPR", help='e.g. "accuracy >= production - 0.01 and loss < 0.3"'
    )
    parser.add_argument(
        "--run",
        metavar="RUN_ID",
        help="the challenger (default: the newest succeeded run, or the sweep's best after one)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_events_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``events``, shared with ``%mlops events``."""
    parser.add_argument("name", nargs="?", help="a deployment or a function (none: all)")
    parser.add_argument("--limit", type=int, default=50, help="the newest N events (50)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    as_json = bool(arguments.json)
    if arguments.command == "events":
        found = service.store.events.timeline(arguments.name, limit=arguments.limit)
        if as_json:
            emit([event.to_dict() for event in found], True)
        else:
            emit("\n".join(describe_event(e) for e in found) or "no events", False)
        return 0
    result = service.promote(
        arguments.notebook,
        arguments.function,
        to=arguments.to,
        gate=arguments.gate,
        run=arguments.run,
    )
    emit(result.to_dict() if as_json else describe_promotion(result), as_json)
    return 0 if result.passed else EXIT_GATE_FAILED


def describe_promotion(result: Promotion) -> str:
    """What ``promote`` did, in a few lines."""
    from .loop.promotion import describe_clause

    challenger = f"run {result.challenger[:12]} ({result.how}, version {result.version[:12]})"
    champion = f"run {result.champion[:12]}" if result.champion else "none"
    lines = [f"challenger: {challenger}", f"champion ({result.alias}): {champion}"]
    lines += [f"  gate  {describe_clause(clause)}" for clause in result.clauses]
    if not result.passed:
        lines.append(f"not promoted: the gate failed; {result.alias} did not move")
    elif result.moved:
        lines.append(f"promoted: {result.function}@{result.alias} -> run {result.challenger[:12]}")
    else:
        lines.append(f"{result.function}@{result.alias} points at this run already")
    for follower in result.followers:
        state = "now serves it" if follower["ok"] else f"did not follow: {follower['error']}"
        lines.append(f"  deployment {follower['deployment']}: {state}")
    return "\n".join(lines)


def describe_event(event: LoopEvent) -> str:
    """One line of the timeline: time, kind, what, ids."""
    ids = " ".join(
        f"{key}={str(value)[:12]}"
        for key, value in event.refs.items()
        if isinstance(value, (str, int)) and not isinstance(value, bool) and key in ID_REFS
    )
    where = event.deployment or event.function or ""
    text = (
        f"{event.created_at:%Y-%m-%d %H:%M:%S}  {event.kind:<9} {where:<16} {event.message or ''}"
    )
    return f"{text}  [{event.source} {event.id}{' ' + ids if ids else ''}]"

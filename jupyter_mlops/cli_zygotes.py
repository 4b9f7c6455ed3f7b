"""``jupyter mlops zygotes [--stop]``: the zygotes kept warm between commands, and ending them.

A CLI command leaves its zygotes (an interpreter with IPython and a notebook's imports, that
the next command's runs are forked from) for ``c.MLOps.keep_warm`` idle seconds. This lists
them, with what each imported and the memory it holds, and ``--stop`` ends them now (a
zygote with runs in flight ends when they do). The command hosts that ``run`` and ``sweep``
are forked from (``cli_host``) are listed and stopped with them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import MLOps

Emit = Callable[[Any, bool], None]
COMMANDS = ("zygotes",)


def add_commands(commands: Any) -> None:
    zygotes = commands.add_parser(
        "zygotes",
        help="list the zygotes kept warm between commands (--stop ends them)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    zygotes.add_argument("--stop", action="store_true", help="end every kept zygote now")
    zygotes.add_argument("--json", action="store_true", help="print one JSON object")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    from . import cli_client
    from .execute import kept

    found = kept.stop() if arguments.stop else kept.status()
    hosts = cli_client.hosts("stop" if arguments.stop else "status")
    if arguments.json:
        emit({"zygotes": found, "hosts": hosts, "stopped": bool(arguments.stop)}, True)
        return 0
    if not found and not hosts:
        emit("no kept zygote", False)
        return 0
    for host in hosts:
        memory = host.get("memory")
        size = f"{memory / (1 << 20):.0f} MiB" if memory else "memory unknown"
        state = "stopped" if arguments.stop else f"idle {host.get('idle_seconds')} s"
        commands = host.get("commands", 0)
        emit(f"pid {host['pid']}  {size}  commands {commands}  {state}  (command host)", False)
    for zygote in found:
        memory = zygote.get("memory")
        size = f"{memory / (1 << 20):.0f} MiB" if memory else "memory unknown"
        modules = ", ".join(zygote.get("modules") or []) or "no warm import"
        state = "stopped" if arguments.stop else f"idle {zygote.get('idle_seconds')} s"
        runs = zygote.get("runs", 0)
        emit(f"pid {zygote['pid']}  {size}  runs {runs}  {state}  {modules}", False)
    return 0

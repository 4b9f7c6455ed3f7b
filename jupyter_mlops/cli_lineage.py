"""``jupyter mlops lineage`` and ``jupyter mlops audit``: what is behind, downstream, and who.

- ``lineage NAME``: deployment (or function) ← version ← run ← data sets, with hashes;
- ``lineage --data PATH``: the runs, versions and deployments downstream of a data set;
- ``lineage --openlineage RUN`` (or ``all``): OpenLineage run events as JSON lines;
- ``audit NAME``: alias moves, runs and deployment events of a function or deployment, with
  who did each and when, newest first.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import MLOpsError

if TYPE_CHECKING:
    from .service import MLOps

Emit = Callable[[Any, bool], None]
COMMANDS = ("lineage", "audit")


LINEAGE_HELP = (
    "what is behind a deployment or function (runs, data sets and their hashes), "
    "or what is downstream of a data set"
)
AUDIT_HELP = "who moved aliases, ran and deployed: one function or deployment"


def add_commands(commands: Any) -> None:
    add_lineage_options(commands.add_parser("lineage", help=LINEAGE_HELP))
    add_audit_options(commands.add_parser("audit", help=AUDIT_HELP))


def add_lineage_options(lineage: argparse.ArgumentParser) -> None:
    """The options of ``lineage``, shared with ``%mlops lineage``."""
    lineage.add_argument("name", nargs="?", metavar="DEPLOYMENT_OR_FUNCTION")
    lineage.add_argument("--data", metavar="PATH", help="a data set's path (or its sha256)")
    lineage.add_argument(
        "--openlineage", metavar="RUN", help="print a run's OpenLineage events ('all': every run)"
    )
    lineage.add_argument("--json", action="store_true", help="print one JSON object")


def add_audit_options(audit: argparse.ArgumentParser) -> None:
    audit.add_argument("name", metavar="FUNCTION_OR_DEPLOYMENT")
    audit.add_argument("--limit", type=int, default=100, help="entries (default 100)")
    audit.add_argument("--json", action="store_true", help="print one JSON object")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    if arguments.command == "audit":
        from .store.audit import audit

        entries = audit(service.store, arguments.name, limit=arguments.limit)
        emit({"name": arguments.name, "entries": entries} if arguments.json else
             _audit_text(arguments.name, entries), arguments.json)  # fmt: skip
        return 0
    chosen = [arguments.name, arguments.data, arguments.openlineage]
    if sum(value is not None for value in chosen) != 1:
        raise MLOpsError(
            "lineage: give one of DEPLOYMENT_OR_FUNCTION, --data PATH or --openlineage RUN"
        )
    if arguments.openlineage is not None:
        from .lineage_export import store_events

        events = store_events(service.store, arguments.openlineage)
        emit("\n".join(json.dumps(event, ensure_ascii=False) for event in events), False)
        return 0
    if arguments.data is not None:
        found = service.store.lineage.downstream(arguments.data)
        emit(found if arguments.json else _downstream_text(found), arguments.json)
        return 0
    behind = service.store.lineage.behind(arguments.name)
    emit(behind if arguments.json else _behind_text(behind), arguments.json)
    return 0


# -- text ----------------------------------------------------------------------------------


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _run_lines(run: dict[str, Any], indent: str) -> list[str]:
    lines = [
        f"{indent}run {run['id'][:12]}  {run['status']}  by {run.get('actor') or '-'}  "
        f"{run['created_at'][:19]}"
    ]
    for data in run.get("datasets", []):
        columns = ", ".join(column["name"] for column in data.get("schema") or [])
        where = data.get("uri") or "(DataFrame)"
        lines.append(
            f"{indent}  data {data['name']}  {where}  sha256 {data['sha256'][:16]}  "
            f"{_size(int(data['size']))}" + (f"  columns: {columns}" if columns else "")
        )
    if not run.get("datasets"):
        lines.append(f"{indent}  (no data sets recorded)")
    return lines


def _behind_text(found: dict[str, Any]) -> str:
    if found["kind"] == "deployment":
        aliases = f" [{', '.join(found['aliases'])}]" if found["aliases"] else ""
        lines = [
            f"deployment {found['deployment']} ({found['status']}, by {found.get('actor') or '-'})",
            f"  version {found['version'][:12]} of {found['function']}{aliases}",
        ]
        for run in found["runs"]:
            lines += _run_lines(run, "    ")
        return "\n".join(lines)
    lines = [f"function {found['function']}"]
    for version in found["versions"]:
        aliases = f" [{', '.join(version['aliases'])}]" if version["aliases"] else ""
        lines.append(f"  version {version['version'][:12]}{aliases}")
        for run in version["runs"]:
            lines += _run_lines(run, "    ")
    return "\n".join(lines)


def _downstream_text(found: dict[str, Any]) -> str:
    lines = [f"data set {found['uri'] or found['sha256']}"]
    for entry in found["hashes"]:
        lines.append(f"  sha256 {entry['sha256'][:16]}  read by {entry['runs']} run(s)")
    lines.append(f"runs ({found['run_count']}, newest {len(found['runs'])} shown)")
    for run in found["runs"]:
        name = run["function"] or run["notebook"]
        lines.append(f"  {run['id'][:12]}  {name}  {run['status']}  by {run.get('actor') or '-'}")
    lines.append(f"versions ({len(found['versions'])})")
    lines += [f"  {v['function']}  {v['version'][:12]}" for v in found["versions"]]
    lines.append(f"deployments ({len(found['deployments'])})")
    lines += [
        f"  {d['name']}  {d['function']}  {d['version'][:12]}  {d['status']}"
        for d in found["deployments"]
    ]
    return "\n".join(lines)


def _audit_text(name: str, entries: list[dict[str, Any]]) -> str:
    if not entries:
        return f"no alias moves, runs or deployment events for {name}"
    return "\n".join(
        f"{entry['at'][:19]}  {entry.get('actor') or '-':<16}  {entry['kind']:<12}  {entry['what']}"
        for entry in entries
    )

"""``jupyter mlops store copy --to URL [--from URL]``: move a store's history to another store.

From the configured store (``c.MLOps.store_url``) by default. One line per table as it is
copied, then where the artifact bytes are, since they are not rows of the database.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import MLOps

Emit = Callable[[Any, bool], None]
COMMANDS = ("store",)

COPY_HELP = "copy every run, version, alias and deployment record into another store"


def add_commands(commands: Any) -> None:
    store = commands.add_parser("store", help="manage the store itself (store copy)")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    copy = actions.add_parser("copy", help=COPY_HELP, description=COPY_HELP)
    copy.add_argument("--to", required=True, metavar="URL", help="the target store's URL")
    copy.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="the source store's URL (default: the configured store, MLOps.store_url)",
    )
    copy.add_argument("--json", action="store_true", help="print one JSON object at the end")


def dispatch(service: MLOps, arguments: argparse.Namespace, emit: Emit) -> int:
    from .project import _absolute_url, mask_url
    from .store.copy import TableCount, copy_store

    project = service.project
    root = Path(project.root_dir)
    source = _absolute_url(arguments.source, root) if arguments.source else project.store_url
    target = _absolute_url(arguments.to, root)
    as_json = bool(arguments.json)

    def progress(count: TableCount) -> None:
        if not as_json:
            emit(str(count), False)

    if not as_json:
        emit(f"copying {mask_url(source)} -> {mask_url(target)}", False)
    counts = copy_store(source, target, progress=progress)
    note = (
        "artifact bytes are not in the database: copy the artifacts folder "
        f"({project.artifact_url or project.artifacts_dir}) along, or point "
        "c.MLOps.artifact_url at storage both can reach"
    )
    if as_json:
        emit(
            {
                "from": mask_url(source),
                "to": mask_url(target),
                "tables": [vars(count) for count in counts],
                "note": note,
            },
            True,
        )
    else:
        emit(note, False)
    return 0

"""Who did something: the name each record keeps as its ``actor``.

On the Jupyter server the handlers pass the identity provider's user (``current_user``); the
CLI, the magic and other local processes act as the operating-system user. Never raises: a
container without a passwd entry for its uid still gets a stable name (``uid:1000``).
"""

from __future__ import annotations

import getpass
import os

MAX_ACTOR = 255  # the width of the actor columns (migration 0004)


def os_user() -> str:
    """The operating-system user of this process."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        name = ""
    if not name:
        getuid = getattr(os, "getuid", None)
        name = f"uid:{getuid()}" if getuid is not None else "unknown"
    return name[:MAX_ACTOR]


def actor_name(actor: str | None) -> str | None:
    """An actor as stored: trimmed to the column's width; empty means unknown (None)."""
    if actor is None:
        return None
    actor = str(actor).strip()
    return actor[:MAX_ACTOR] or None

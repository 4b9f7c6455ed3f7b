"""The run store: runs, metrics, artifacts, function versions and sweeps (SQLAlchemy 2).

No web dependency; SQLite in WAL mode under ``<root>/.mlops/`` by default, any SQLAlchemy URL
otherwise. The public API is :class:`Store` and the frozen records it returns.
"""

from __future__ import annotations

from .records import (
    ARTIFACT_KINDS,
    FINAL_STATUSES,
    RUN_STATUSES,
    AliasMove,
    Artifact,
    Run,
    RunPage,
    Sweep,
    Version,
)
from .store import Store

__all__ = [
    "ARTIFACT_KINDS",
    "FINAL_STATUSES",
    "RUN_STATUSES",
    "AliasMove",
    "Artifact",
    "Run",
    "RunPage",
    "Store",
    "Sweep",
    "Version",
]

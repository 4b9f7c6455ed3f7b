"""What the store hands out: plain frozen records, never ORM objects or sessions.

A record is a snapshot taken inside one short session, so callers on any thread can keep
it, compare it and serialize it (``to_dict()`` is JSON-ready) without touching the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "cancelled", "interrupted")
ARTIFACT_KINDS = ("dataset", "model", "file", "notebook", "value")
SWEEP_STRATEGIES = ("grid", "list", "random")
SWEEP_STATUSES = ("running", "succeeded", "failed", "cancelled", "interrupted")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class Artifact:
    """Bytes a run produced, content-addressed: ``path`` is shared by every equal blob."""

    id: str
    run_id: str
    name: str
    kind: str
    sha256: str
    size: int
    created_at: datetime
    root: Path = field(repr=False, compare=False)

    @property
    def path(self) -> Path:
        return self.root / self.sha256[:2] / self.sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "name": self.name,
            "kind": self.kind,
            "sha256": self.sha256,
            "size": self.size,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True)
class Run:
    """One execution of a notebook or of one of its functions."""

    id: str
    notebook: str
    function: str | None
    version: str | None
    parameters: dict[str, Any]
    status: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    metrics: dict[str, float]
    artifacts: list[Artifact]
    output_notebook: str | None
    error: dict[str, Any] | None
    executor: str
    sweep_id: str | None
    parent_id: str | None
    host: str | None
    pid: int | None
    idempotency_key: str | None
    inputs: dict[str, Any]
    worker: str | None = None  # the Dask worker that executed it
    external_id: str | None = None  # the run's id on another system (a KFP run id)
    external_url: str | None = None
    actor: str | None = None  # who asked for the run

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None until the run has both)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notebook": self.notebook,
            "function": self.function,
            "version": self.version,
            "parameters": self.parameters,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "duration": self.duration,
            "metrics": dict(self.metrics),
            "artifacts": [artifact.to_dict() for artifact in self.artifacts],
            "output_notebook": self.output_notebook,
            "error": self.error,
            "executor": self.executor,
            "sweep_id": self.sweep_id,
            "parent_id": self.parent_id,
            "host": self.host,
            "pid": self.pid,
            "idempotency_key": self.idempotency_key,
            "inputs": self.inputs,
            "worker": self.worker,
            "external_id": self.external_id,
            "external_url": self.external_url,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class RunPage:
    """One page of runs; pass ``next_cursor`` back to get the next (None: no more)."""

    runs: list[Run]
    next_cursor: str | None


@dataclass(frozen=True)
class Version:
    """A function's identity (sha256 of its code and context) with the aliases on it."""

    function: str
    version: str
    notebook: str
    code: str
    created_at: datetime
    aliases: list[str]
    run_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "version": self.version,
            "notebook": self.notebook,
            "code": self.code,
            "created_at": _iso(self.created_at),
            "aliases": list(self.aliases),
            "run_count": self.run_count,
        }


@dataclass(frozen=True)
class Sweep:
    """Many runs over a parameter space; ``best_run_id`` is set when ``select`` is."""

    id: str
    notebook: str
    function: str | None
    strategy: str
    space: dict[str, Any]
    select: str | None
    status: str
    best_run_id: str | None
    created_at: datetime
    ended_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notebook": self.notebook,
            "function": self.function,
            "strategy": self.strategy,
            "space": self.space,
            "select": self.select,
            "status": self.status,
            "best_run_id": self.best_run_id,
            "created_at": _iso(self.created_at),
            "ended_at": _iso(self.ended_at),
        }


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: it pointed at ``previous`` (None: new) and now at ``version``."""

    function: str
    alias: str
    version: str
    previous: str | None
    moved_at: datetime
    actor: str | None = None  # who moved it
    run_id: str | None = None  # the run promoted with the version, if one was named

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "alias": self.alias,
            "version": self.version,
            "previous": self.previous,
            "moved_at": _iso(self.moved_at),
            "actor": self.actor,
            "run_id": self.run_id,
        }

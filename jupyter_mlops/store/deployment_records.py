"""What the store gives back about a deployment: the row, its events, windows and samples,
as plain frozen records (``deployments.py`` reads and writes the rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from .owner import Owner, is_alive, this_process
from .records import _iso


@dataclass(frozen=True)
class Deployment:
    """A snapshot of one deployment row (never the token, only whether one is set)."""

    name: str
    notebook: str
    notebook_path: str
    function: str
    version: str
    alias: str | None
    from_run: str | None
    binding: list[dict[str, Any]]
    host: str
    port: int
    options: dict[str, Any]
    desired: str
    generation: int
    status: str
    serving_generation: int | None
    serving_version: str | None
    failed_generation: int | None
    error: str | None
    restarts: int
    serve_pid: int | None
    keeper_host: str | None
    keeper_pid: int | None
    keeper_start: int | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    actor: str | None = None  # who made the last change asked for

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def keeper(self) -> Owner | None:
        if self.keeper_pid is None or self.keeper_host is None:
            return None
        return Owner(self.keeper_host, self.keeper_pid, self.keeper_start)

    def keeper_alive(self) -> bool:
        """Is this deployment's keeper process running (on this host)?"""
        owner = self.keeper
        if owner is None or owner.host != this_process().host:
            return False
        return is_alive(owner.pid, owner.start)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "updated_at", "started_at"):
            data[key] = _iso(getattr(self, key))
        data["url"] = self.url
        return data


@dataclass(frozen=True)
class DeploymentEvent:
    at: datetime
    kind: str
    version: str | None
    message: str | None
    actor: str | None = None  # who asked (None: the keeper's own doing, or unknown)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": _iso(self.at)}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    version: str | None
    requests: int
    errors: int
    rejected: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "start": _iso(self.start), "end": _iso(self.end)}


@dataclass(frozen=True)
class Sample:
    at: datetime
    version: str | None
    status: int
    latency_ms: float
    input: Any
    output: Any

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": _iso(self.at)}

"""The ORM tables. Private to the store: the public API returns records (``records.py``).

The migrations in ``migrations/versions/`` create exactly these tables and indexes; a test
compares the two so they cannot drift apart. Types stay portable (SQLite and PostgreSQL):
JSON through ``sqlalchemy.JSON`` and times as timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(32)  # uuid4().hex
SHA = String(64)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on backends with (PostgreSQL) or without (SQLite) zones.

    SQLite keeps them as fixed-width text, so they also sort correctly as strings.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class SweepRow(Base):
    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    notebook: Mapped[str] = mapped_column(Text)
    function: Mapped[str | None] = mapped_column(String(255))
    strategy: Mapped[str] = mapped_column(String(16))
    space: Mapped[dict[str, Any]]
    select: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    best_run_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_start: Mapped[int | None] = mapped_column(BigInteger)

    # reconcile_interrupted: the running sweeps of this host, on every open.
    __table_args__ = (Index(None, "status", "host"),)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    notebook: Mapped[str] = mapped_column(Text)
    function: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(SHA)
    parameters: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    output_notebook: Mapped[str | None] = mapped_column(ID)
    error: Mapped[dict[str, Any] | None]
    executor: Mapped[str] = mapped_column(String(64))
    sweep_id: Mapped[str | None] = mapped_column(ForeignKey("sweeps.id"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_start: Mapped[int | None] = mapped_column(BigInteger)  # detects pid reuse
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    inputs: Mapped[dict[str, Any]]
    worker: Mapped[str | None] = mapped_column(String(255))  # the Dask worker that ran it
    external_id: Mapped[str | None] = mapped_column(String(255))  # e.g. the KFP run id
    external_url: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))  # who asked for it

    __table_args__ = (
        # list_runs: newest first, alone or filtered; keyset pagination on (created_at, id).
        Index(None, "created_at", "id"),
        Index(None, "function", "status", "created_at", "id"),
        Index(None, "notebook", "created_at", "id"),
        Index(None, "sweep_id", "created_at", "id"),
        # run_count of a version; reconcile_interrupted on open.
        Index(None, "function", "version"),
        Index(None, "status", "host"),
        # runs --executor kfp; following an external run by its id.
        Index(None, "executor", "created_at", "id"),
        Index(None, "external_id"),
    )


class MetricRow(Base):
    __tablename__ = "metrics"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[float] = mapped_column(Float)

    # Sorting by a metric walks this index in order and stops after one page.
    __table_args__ = (Index(None, "name", "value", "run_id"),)


class ArtifactRow(Base):
    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(SHA)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("run_id", "name"),
        Index(None, "name", "run_id"),
        Index(None, "sha256"),
    )


class VersionRow(Base):
    __tablename__ = "versions"

    function: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[str] = mapped_column(SHA, primary_key=True)
    notebook: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class AliasRow(Base):
    """Where an alias points now: one version of a function at a time."""

    __tablename__ = "aliases"

    function: Mapped[str] = mapped_column(String(255), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(SHA)
    updated_at: Mapped[datetime]
    # The run promoted with the version (its metrics are the champion's, its outputs what a
    # deployment following the alias binds); None for a move that named only a version.
    run_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        ForeignKeyConstraint(["function", "version"], ["versions.function", "versions.version"]),
    )


class AliasHistoryRow(Base):
    """Every move of an alias, so "what was production last Tuesday" has an answer."""

    __tablename__ = "alias_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    function: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(SHA)
    previous: Mapped[str | None] = mapped_column(SHA)
    moved_at: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(ID)  # the run moved with it, if one was named
    actor: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index(None, "function", "alias", "moved_at"),)


class DeploymentRow(Base):
    """A function version served at a URL; ``generation`` counts what was asked of it.

    The surfaces write what is wanted (version, snapshot, desired state, a new generation);
    the deployment's keeper process writes what is (status, serving generation and version,
    pids, restarts, the last error).
    """

    __tablename__ = "deployments"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    notebook: Mapped[str] = mapped_column(Text)  # the name runs are recorded under
    notebook_path: Mapped[str] = mapped_column(Text)  # the original file (its folder: workdir)
    function: Mapped[str] = mapped_column(String(255), index=True)  # the audit of a function
    version: Mapped[str] = mapped_column(SHA)  # wanted
    alias: Mapped[str | None] = mapped_column(String(64))
    from_run: Mapped[str | None] = mapped_column(ID)
    binding: Mapped[dict[str, Any]]
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    token_sha256: Mapped[str] = mapped_column(SHA)
    options: Mapped[dict[str, Any]]
    desired: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    serving_generation: Mapped[int | None] = mapped_column(Integer)
    serving_version: Mapped[str | None] = mapped_column(SHA)
    failed_generation: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    restarts: Mapped[int] = mapped_column(Integer)
    serve_pid: Mapped[int | None] = mapped_column(Integer)
    keeper_host: Mapped[str | None] = mapped_column(String(255))
    keeper_pid: Mapped[int | None] = mapped_column(Integer)
    keeper_start: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    actor: Mapped[str | None] = mapped_column(String(255))  # who made the last change
    # request field -> binned reference (jupyter_mlops.drift) the serving process counts into
    drift_references: Mapped[dict[str, Any] | None]
    reference_source: Mapped[str | None] = mapped_column(Text)


class DeploymentEventRow(Base):
    """The lifecycle history: deployed, redeployed, rolled back, crashed, restarted, stopped."""

    __tablename__ = "deployment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(
        ForeignKey("deployments.name", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[str | None] = mapped_column(SHA)
    message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))


class LoopEventRow(Base):
    """One step of the loop (drift, run, gate, promote, redeploy, rollback…), with the ids
    of what it is about in ``refs``. Not a child of a deployment: a gate or a promotion is
    about a function, and the log outlives an undeployed endpoint."""

    __tablename__ = "loop_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    deployment: Mapped[str | None] = mapped_column(String(255))
    function: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    refs: Mapped[dict[str, Any]]
    message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index(None, "deployment", "id"), Index(None, "function", "id"))


class DeploymentWindowRow(Base):
    """Request counts and latency percentiles of one monitoring window (all workers merged)."""

    __tablename__ = "deployment_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(ForeignKey("deployments.name", ondelete="CASCADE"))
    version: Mapped[str | None] = mapped_column(SHA)
    start: Mapped[datetime]
    end: Mapped[datetime]
    requests: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p90_ms: Mapped[float | None] = mapped_column(Float)
    p99_ms: Mapped[float | None] = mapped_column(Float)
    max_ms: Mapped[float | None] = mapped_column(Float)
    # field -> counts in its reference's bins; no counts is SQL NULL (not JSON null), so
    # ``drift IS NOT NULL`` finds the windows that counted fields
    drift: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (Index(None, "deployment", "end"),)


class DeploymentSampleRow(Base):
    """One sampled request: its input and output, kept for drift analysis (bounded)."""

    __tablename__ = "deployment_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(
        ForeignKey("deployments.name", ondelete="CASCADE"), index=True
    )
    version: Mapped[str | None] = mapped_column(SHA)
    at: Mapped[datetime]
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    input: Mapped[Any] = mapped_column(JSON, nullable=True)
    output: Mapped[Any] = mapped_column(JSON, nullable=True)


class PolicyRow(Base):
    """A deployment's retraining policy (``loop/policy.py``) and the loop's memory of it."""

    __tablename__ = "policies"

    deployment: Mapped[str] = mapped_column(
        ForeignKey("deployments.name", ondelete="CASCADE"), primary_key=True
    )
    notebook: Mapped[str] = mapped_column(Text)
    function: Mapped[str | None] = mapped_column(String(255))
    sweep: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    parameters: Mapped[dict[str, Any]]
    gate: Mapped[str | None] = mapped_column(Text)
    live_gate: Mapped[str | None] = mapped_column(Text)  # when to roll a promotion back
    promote: Mapped[str] = mapped_column(String(64))
    approval: Mapped[str] = mapped_column(String(16))
    after: Mapped[int] = mapped_column(Integer)
    within_s: Mapped[float] = mapped_column(Float)
    cooldown_s: Mapped[float] = mapped_column(Float)
    schedule_s: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(255))
    last_fired_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(Text)

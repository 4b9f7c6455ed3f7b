"""ORM rows to frozen records, loaded in bulk (three queries for a page of any size)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import checks
from .models import ArtifactRow, MetricRow, RunRow, SweepRow
from .owner import this_process
from .records import Artifact, Run, Sweep


def artifact_record(row: ArtifactRow, root: Path) -> Artifact:
    return Artifact(
        id=row.id,
        run_id=row.run_id,
        name=row.name,
        kind=row.kind,
        sha256=row.sha256,
        size=row.size,
        created_at=row.created_at,
        root=root,
    )


def load_runs(session: Session, ids: Iterable[str], root: Path) -> list[Run]:
    """Runs with their metrics (by name) and artifacts (oldest first), in the order of ids."""
    order = list(ids)
    if not order:
        return []
    rows = {r.id: r for r in session.scalars(select(RunRow).where(RunRow.id.in_(order)))}
    return _records(session, order, rows, root)


def load_run(session: Session, row: RunRow, root: Path) -> Run:
    """The record of a run whose row this session holds already (just written): its
    metrics and artifacts are read, the row is not read again."""
    return _records(session, [row.id], {row.id: row}, root)[0]


def _records(
    session: Session, order: list[str], rows: Mapping[str, RunRow], root: Path
) -> list[Run]:
    metrics: dict[str, dict[str, float]] = {}
    for metric in session.scalars(
        select(MetricRow).where(MetricRow.run_id.in_(order)).order_by(MetricRow.name)
    ):
        metrics.setdefault(metric.run_id, {})[metric.name] = metric.value
    artifacts: dict[str, list[Artifact]] = {}
    for artifact in session.scalars(
        select(ArtifactRow)
        .where(ArtifactRow.run_id.in_(order))
        .order_by(ArtifactRow.created_at, ArtifactRow.name)
    ):
        artifacts.setdefault(artifact.run_id, []).append(artifact_record(artifact, root))
    return [
        run_record(rows[i], metrics.get(i, {}), artifacts.get(i, [])) for i in order if i in rows
    ]


def run_record(row: RunRow, metrics: dict[str, float], artifacts: list[Artifact]) -> Run:
    return Run(
        id=row.id,
        notebook=row.notebook,
        function=row.function,
        version=row.version,
        parameters=row.parameters,
        status=row.status,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        metrics=metrics,
        artifacts=artifacts,
        output_notebook=row.output_notebook,
        error=row.error,
        executor=row.executor,
        sweep_id=row.sweep_id,
        parent_id=row.parent_id,
        host=row.host,
        pid=row.pid,
        idempotency_key=row.idempotency_key,
        inputs=row.inputs or {},
        worker=row.worker,
        external_id=row.external_id,
        external_url=row.external_url,
        actor=row.actor,
    )


def sweep_record(row: SweepRow) -> Sweep:
    return Sweep(
        id=row.id,
        notebook=row.notebook,
        function=row.function,
        strategy=row.strategy,
        space=row.space,
        select=row.select,
        status=row.status,
        best_run_id=row.best_run_id,
        created_at=row.created_at,
        ended_at=row.ended_at,
    )


def queued_rows(
    notebook: str,
    function: str | None,
    version: str | None,
    parameters: Iterable[Mapping[str, object]],
    sweep_id: str,
    executor: str,
) -> list[RunRow]:
    """New `queued` rows of one sweep, owned by this process, one per parameter set."""
    owner, now = this_process(), datetime.now(timezone.utc)
    checks.text(notebook, "notebook", limit=4096)
    checks.text(executor, "executor", limit=64)
    return [
        RunRow(
            id=uuid4().hex,
            notebook=notebook,
            function=function,
            version=version,
            parameters=checks.json_object(values, "parameters"),
            status="queued",
            created_at=now,
            executor=executor,
            sweep_id=sweep_id,
            host=owner.host,
            pid=owner.pid,
            process_start=owner.start,
            inputs={},
        )
        for values in parameters
    ]

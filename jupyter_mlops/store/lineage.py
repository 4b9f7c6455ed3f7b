"""Lineage: which data sets each run read, and the two questions asked of them.

- ``behind(name)``: what exactly is behind a deployment (or a function): deployment ←
  version ← the run whose values it serves ← the data sets that run read, with hashes.
- ``downstream(path or sha256)``: everything that read a data set: runs, the versions they
  ran, the deployments serving those versions or bound to those runs.

Both go through the ``run_datasets`` indexes (by run, by uri, by sha256) and return at most
``limit`` runs (the newest), with the total, so the answer stays fast at any store size.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..errors import NotFoundError
from .database import Database
from .models import ID, SHA, AliasRow, Base, DeploymentRow, RunRow, VersionRow

SOURCES = ("log_input", "parameter")
HEX = frozenset("0123456789abcdef")
DEFAULT_LIMIT = 50

logger = logging.getLogger(__name__)


class RunDatasetRow(Base):
    __tablename__ = "run_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    uri: Mapped[str | None] = mapped_column(Text)  # an absolute path; None for a DataFrame
    sha256: Mapped[str] = mapped_column(SHA)
    size: Mapped[int] = mapped_column(BigInteger)
    schema: Mapped[dict[str, Any] | None]  # {"columns": [{"name", "type"}…]}
    source: Mapped[str] = mapped_column(String(16))  # log_input | parameter
    created_at: Mapped[datetime]

    __table_args__ = (
        Index(None, "run_id"),
        Index(None, "uri", "run_id"),
        Index(None, "sha256", "run_id"),
    )


# A function's versions each with their newest runs: one index range per version, no sort.
# Declared here (not in models.py) with the rest of lineage; migration 0005 creates it.
Index(
    "ix_runs_function_version_created_at_id",
    RunRow.function,
    RunRow.version,
    RunRow.created_at,
    RunRow.id,
)


def dataset_dict(row: RunDatasetRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "uri": row.uri,
        "sha256": row.sha256,
        "size": row.size,
        "schema": (row.schema or {}).get("columns"),
        "source": row.source,
        "run_id": row.run_id,
        "recorded_at": row.created_at.isoformat(),
    }


def _run_dict(row: RunRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "notebook": row.notebook,
        "function": row.function,
        "version": row.version,
        "status": row.status,
        "actor": row.actor,
        "created_at": row.created_at.isoformat(),
    }


class LineageStore:
    """Data sets read by runs, over the store's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, run_id: str, reads: list[dict[str, Any]]) -> int:
        """Link the data sets a run read to it (as ``datasets.describe_*`` describes them).

        The records come from the kernel (``inputs.jsonl``), so one that is malformed (a
        line cut short, edited by the notebook's code) is skipped with a warning naming it,
        never a reason to lose the run's other records.
        """
        rows = []
        now = datetime.now(timezone.utc)
        for read in reads:
            row = _row(run_id, read, now)
            if row is None:
                logger.warning("run %s: skipping a malformed data set record %.200r", run_id, read)
            else:
                rows.append(row)
        if rows:
            with self._db.write() as session:
                session.add_all(rows)
        return len(rows)

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        with self._db.read() as session:
            query = select(RunDatasetRow).where(RunDatasetRow.run_id == run_id)
            return [dataset_dict(row) for row in session.scalars(query.order_by(RunDatasetRow.id))]

    # -- what is behind a deployment or a function ---------------------------------------------

    def behind(self, name: str, *, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """deployment ← version ← run ← data sets (or, for a function, each version's)."""
        with self._db.read() as session:
            deployment = session.get(DeploymentRow, name)
            if deployment is not None:
                return self._behind_deployment(session, deployment)
            versions = session.scalars(
                select(VersionRow)
                .where(VersionRow.function == name)
                .order_by(VersionRow.created_at.desc())
                .limit(limit)
            ).all()
            if not versions:
                raise NotFoundError(f"no deployment or function named {name!r}")
            aliases = _aliases(session, name)
            return {
                "kind": "function",
                "function": name,
                "versions": [
                    {
                        "version": version.version,
                        "aliases": aliases.get(version.version, []),
                        "runs": self._runs_with_data(
                            session,
                            select(RunRow.id)
                            .where(RunRow.function == name, RunRow.version == version.version)
                            .order_by(RunRow.created_at.desc(), RunRow.id.desc())
                            .limit(5),
                        ),
                    }
                    for version in versions
                ],
            }

    def _behind_deployment(self, session: Session, row: DeploymentRow) -> dict[str, Any]:
        run_ids = sorted({str(entry["run"]) for entry in _binding(row) if entry.get("run")})
        if row.from_run and row.from_run not in run_ids:
            run_ids.append(row.from_run)
        query: Any = select(RunRow.id).where(RunRow.id.in_(run_ids))
        if not run_ids:  # nothing bound: the newest successful run of the deployed version
            query = (
                select(RunRow.id)
                .where(
                    RunRow.function == row.function,
                    RunRow.version == row.version,
                    RunRow.status == "succeeded",
                )
                .order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(1)
            )
        return {
            "kind": "deployment",
            "deployment": row.name,
            "status": row.status,
            "actor": row.actor,
            "function": row.function,
            "version": row.version,
            "serving_version": row.serving_version,
            "aliases": _aliases(session, row.function).get(row.version, []),
            "binding": [
                {key: entry.get(key) for key in ("name", "function", "run", "artifact", "sha256")}
                for entry in _binding(row)
            ],
            "runs": self._runs_with_data(session, query),
        }

    @staticmethod
    def _runs_with_data(session: Session, ids_query: Any) -> list[dict[str, Any]]:
        runs = {
            row.id: row for row in session.scalars(select(RunRow).where(RunRow.id.in_(ids_query)))
        }
        reads: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in runs}
        if runs:
            query = select(RunDatasetRow).where(RunDatasetRow.run_id.in_(list(runs)))
            for read in session.scalars(query.order_by(RunDatasetRow.id)):
                reads[read.run_id].append(dataset_dict(read))
        ordered = sorted(runs.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        return [{**_run_dict(run), "datasets": reads[run.id]} for run in ordered]

    # -- what is downstream of a data set ------------------------------------------------------

    def downstream(self, data: str, *, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """Runs that read ``data`` (a path: by uri, and by its current sha256 if it exists;
        or a sha256), the versions they ran and the deployments built on them."""
        uri, sha = _data_key(data)
        match = or_(
            *(
                condition
                for condition in (
                    RunDatasetRow.uri == uri if uri else None,
                    RunDatasetRow.sha256 == sha if sha else None,
                )
                if condition is not None
            )
        )
        with self._db.read() as session:
            readers = select(RunDatasetRow.run_id).where(match)
            total = (
                session.scalar(select(func.count(func.distinct(RunDatasetRow.run_id))).where(match))
                or 0
            )
            hashes = [
                {
                    "sha256": sha256,
                    "runs": count,
                    "first": first.isoformat(),
                    "last": last.isoformat(),
                }
                for sha256, count, first, last in session.execute(
                    select(
                        RunDatasetRow.sha256,
                        func.count(func.distinct(RunDatasetRow.run_id)),
                        func.min(RunDatasetRow.created_at),
                        func.max(RunDatasetRow.created_at),
                    )
                    .where(match)
                    .group_by(RunDatasetRow.sha256)
                )
            ]
            newest = session.scalars(
                select(RunRow)
                .where(RunRow.id.in_(readers))
                .order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .limit(limit)
            ).all()
            versions = sorted(
                {
                    (function, version)
                    for function, version in session.execute(
                        select(RunRow.function, RunRow.version)
                        .where(RunRow.id.in_(readers), RunRow.function.is_not(None))
                        .distinct()
                    )
                    if function and version
                }
            )
            deployments = _deployments_on(session, set(versions), readers)
        return {
            "data": data,
            "uri": uri,
            "sha256": sha,
            "hashes": hashes,
            "run_count": total,
            "runs": [_run_dict(run) for run in newest],
            "versions": [{"function": f, "version": v} for f, v in versions],
            "deployments": deployments,
        }


def _row(run_id: str, read: Any, now: datetime) -> RunDatasetRow | None:
    if not isinstance(read, dict):
        return None
    sha, size, source = read.get("sha256"), read.get("size"), read.get("source", "log_input")
    schema, uri = read.get("schema"), read.get("uri")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in HEX for c in sha)):
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0 or source not in SOURCES:
        return None
    if not isinstance(schema, list) or not all(isinstance(f, dict) for f in schema):
        schema = None
    return RunDatasetRow(
        run_id=run_id,
        name=str(read.get("name", ""))[:500] or "(unnamed)",
        uri=uri if isinstance(uri, str) and uri else None,
        sha256=sha,
        size=size,
        schema=None if schema is None else {"columns": schema},
        source=source,
        created_at=now,
    )


def _binding(row: DeploymentRow) -> list[dict[str, Any]]:
    """The bound inputs (stored as ``{"inputs": [...]}``)."""
    entries: Any = row.binding.get("inputs", []) if isinstance(row.binding, dict) else []
    return [entry for entry in entries or [] if isinstance(entry, dict)]


def _data_key(data: str) -> tuple[str | None, str | None]:
    """A path gives its absolute uri (and its sha256 now, if it is a file); 64 hex: a hash."""
    if len(data) == 64 and all(char in "0123456789abcdef" for char in data.lower()):
        return None, data.lower()
    try:
        path = Path(data).expanduser().resolve()
        if path.is_file():
            from ..datasets import describe_file

            return str(path), str(describe_file(path)["sha256"])
    except (OSError, ValueError, RuntimeError):  # NUL bytes, loops, unreadable: by path only
        return os.path.abspath(data.replace("\0", "")), None
    return str(path), None


def _aliases(session: Session, function: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for alias, version in session.execute(
        select(AliasRow.alias, AliasRow.version).where(AliasRow.function == function)
    ):
        found.setdefault(version, []).append(alias)
    return found


def _deployments_on(
    session: Session, versions: set[tuple[str, str]], readers: Any
) -> list[dict[str, Any]]:
    """Deployments serving one of ``versions``, or bound to values of a reading run."""
    rows = session.scalars(select(DeploymentRow).order_by(DeploymentRow.name)).all()
    bound_by = {row.name: {str(entry.get("run")) for entry in _binding(row)} for row in rows}
    every_bound = set().union(*bound_by.values()) if bound_by else set()
    reading: set[str] = set()
    if every_bound:  # only the few runs deployments are bound to, never every reader
        reading = set(
            session.scalars(
                select(RunRow.id).where(RunRow.id.in_(every_bound), RunRow.id.in_(readers))
            )
        )
    found = []
    for row in rows:
        bound = bound_by[row.name] & reading
        if (row.function, row.version) in versions or bound:
            found.append(
                {
                    "name": row.name,
                    "function": row.function,
                    "version": row.version,
                    "status": row.status,
                    "bound_runs": sorted(bound),
                }
            )
    return found

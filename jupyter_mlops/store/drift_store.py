"""What drift is judged from: a deployment's references and its windows' field counts.

Kept apart from ``deployments.py`` (which the keeper and the surfaces use for everything
else) because only drift reads these columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .database import Database
from .models import DeploymentRow, DeploymentWindowRow


@dataclass(frozen=True)
class DriftWindow:
    """One monitoring window's requests and, per watched field, its counts in the bins."""

    start: datetime
    end: datetime
    version: str | None
    requests: int
    fields: dict[str, Any]


class DriftStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def set_references(self, name: str, references: dict[str, Any], source: str | None) -> None:
        """The references the serving process counts into (written when it starts)."""
        with self._db.write() as session:
            row = session.get(DeploymentRow, name)
            if row is not None:
                row.drift_references = references
                row.reference_source = source

    def references(self, name: str) -> tuple[dict[str, Any], str | None]:
        with self._db.read() as session:
            row = session.get(DeploymentRow, name)
            if row is None:
                return {}, None
            return dict(row.drift_references or {}), row.reference_source

    def windows(self, name: str, limit: int = 500) -> list[DriftWindow]:
        """The newest ``limit`` windows that counted fields, oldest first."""
        with self._db.read() as session:
            rows = session.scalars(
                select(DeploymentWindowRow)
                .where(
                    DeploymentWindowRow.deployment == name,
                    DeploymentWindowRow.drift.is_not(None),
                )
                .order_by(DeploymentWindowRow.id.desc())
                .limit(limit)
            ).all()
            return [
                DriftWindow(r.start, r.end, r.version, r.requests, dict(r.drift or {}))
                for r in reversed(rows)
            ]

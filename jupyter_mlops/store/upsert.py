"""Metric upserts: one statement where the dialect has ``ON CONFLICT``, portable otherwise."""

from __future__ import annotations

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from .models import MetricRow


def upsert_metrics(session: Session, run_id: str, values: dict[str, float]) -> None:
    """Set each metric of ``run_id`` to its value, inserting the names not yet there."""
    if not values:
        return
    rows = [{"run_id": run_id, "name": name, "value": value} for name, value in values.items()]
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(MetricRow).values(rows)
        session.execute(
            lite.on_conflict_do_update(
                index_elements=[MetricRow.run_id, MetricRow.name],
                set_={"value": lite.excluded.value},
            )
        )
        return
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(MetricRow).values(rows)
        session.execute(
            pg.on_conflict_do_update(
                index_elements=[MetricRow.run_id, MetricRow.name],
                set_={"value": pg.excluded.value},
            )
        )
        return
    session.execute(
        delete(MetricRow).where(MetricRow.run_id == run_id, MetricRow.name.in_(list(values)))
    )
    session.execute(insert(MetricRow), rows)

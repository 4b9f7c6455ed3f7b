"""Where a run ran and who asked: the executor's worker and external id, and actors.

A run on Dask records the worker that executed it; a run submitted to Kubeflow Pipelines
records the KFP run id and its URL. Every run, alias move and deployment event records the
person or account that caused it (the Jupyter user on the server, the OS user on the CLI).
All columns are nullable so rows written by earlier releases stay valid as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

ACTOR = sa.String(255)

COLUMNS: dict[str, list[tuple[str, sa.types.TypeEngine[Any]]]] = {
    "runs": [
        ("worker", sa.String(255)),
        ("external_id", sa.String(255)),
        ("external_url", sa.Text()),
        ("actor", ACTOR),
    ],
    "alias_history": [("actor", ACTOR)],
    "deployments": [("actor", ACTOR)],
    "deployment_events": [("actor", ACTOR)],
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, kind in columns:
                batch.add_column(sa.Column(name, kind, nullable=True))
    op.create_index("ix_runs_executor_created_at_id", "runs", ["executor", "created_at", "id"])
    op.create_index("ix_runs_external_id", "runs", ["external_id"])


def downgrade() -> None:
    op.drop_index("ix_runs_external_id", table_name="runs")
    op.drop_index("ix_runs_executor_created_at_id", table_name="runs")
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, _kind in columns:
                batch.drop_column(name)

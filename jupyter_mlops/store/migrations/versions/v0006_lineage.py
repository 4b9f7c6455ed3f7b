"""Lineage: the data sets each run read, with a full-content sha256, size and schema.

One row per (run, data set read): a file given through ``log_input`` or through a parameter
whose value was an existing file path, or a DataFrame given to ``log_input``. The indexes
answer both lineage questions without a scan: what a run (so a version, a deployment) read
(``run_id``) and what read a data set (``uri``, ``sha256``); a function's versions
with their newest runs (``runs(function, version, created_at, id)``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "run_datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("schema", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_datasets"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_datasets_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_run_datasets_run_id", "run_datasets", ["run_id"])
    op.create_index("ix_run_datasets_uri_run_id", "run_datasets", ["uri", "run_id"])
    op.create_index("ix_run_datasets_sha256_run_id", "run_datasets", ["sha256", "run_id"])
    op.create_index(
        "ix_runs_function_version_created_at_id",
        "runs",
        ["function", "version", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_runs_function_version_created_at_id", table_name="runs")
    op.drop_table("run_datasets")

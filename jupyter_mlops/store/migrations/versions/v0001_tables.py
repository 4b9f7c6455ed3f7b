"""The tables: sweeps, runs, metrics, artifacts, versions, aliases and their history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(32)
SHA = sa.String(64)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", ID, nullable=False),
        sa.Column("notebook", sa.Text(), nullable=False),
        sa.Column("function", sa.String(255), nullable=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("select", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("best_run_id", ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("process_start", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sweeps"),
    )
    op.create_table(
        "runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("notebook", sa.Text(), nullable=False),
        sa.Column("function", sa.String(255), nullable=True),
        sa.Column("version", SHA, nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("output_notebook", ID, nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("executor", sa.String(64), nullable=False),
        sa.Column("sweep_id", ID, nullable=True),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("process_start", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name="fk_runs_sweep_id_sweeps"),
        sa.ForeignKeyConstraint(["parent_id"], ["runs.id"], name="fk_runs_parent_id_runs"),
        sa.UniqueConstraint("idempotency_key", name="uq_runs_idempotency_key"),
    )
    op.create_table(
        "metrics",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_metrics"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_metrics_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", SHA, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_id", "name", name="uq_artifacts_run_id_name"),
    )
    op.create_table(
        "versions",
        sa.Column("function", sa.String(255), nullable=False),
        sa.Column("version", SHA, nullable=False),
        sa.Column("notebook", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("function", "version", name="pk_versions"),
    )
    op.create_table(
        "aliases",
        sa.Column("function", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", SHA, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("function", "alias", name="pk_aliases"),
        sa.ForeignKeyConstraint(
            ["function", "version"],
            ["versions.function", "versions.version"],
            name="fk_aliases_function_versions",
        ),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("function", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", SHA, nullable=False),
        sa.Column("previous", SHA, nullable=True),
        sa.Column("moved_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias_history"),
    )


def downgrade() -> None:
    for table in ("alias_history", "aliases", "versions", "artifacts", "metrics", "runs"):
        op.drop_table(table)
    op.drop_table("sweeps")

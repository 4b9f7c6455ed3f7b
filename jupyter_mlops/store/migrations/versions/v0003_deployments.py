"""Deployments: the deployment, its lifecycle events, monitoring windows and request samples.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(32)
SHA = sa.String(64)
NAME = sa.String(64)
WHEN = sa.DateTime(timezone=True)


def _child(table: str, *columns: sa.Column[object]) -> None:
    """A table of rows that belong to one deployment and go with it."""
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", NAME, nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["deployment"],
            ["deployments.name"],
            name=f"fk_{table}_deployment_deployments",
            ondelete="CASCADE",
        ),
    )


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", NAME, nullable=False),
        sa.Column("notebook", sa.Text(), nullable=False),
        sa.Column("notebook_path", sa.Text(), nullable=False),
        sa.Column("function", sa.String(255), nullable=False),
        sa.Column("version", SHA, nullable=False),
        sa.Column("alias", sa.String(64), nullable=True),
        sa.Column("from_run", ID, nullable=True),
        sa.Column("binding", sa.JSON(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("token_sha256", SHA, nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("serving_generation", sa.Integer(), nullable=True),
        sa.Column("serving_version", SHA, nullable=True),
        sa.Column("failed_generation", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("serve_pid", sa.Integer(), nullable=True),
        sa.Column("keeper_host", sa.String(255), nullable=True),
        sa.Column("keeper_pid", sa.Integer(), nullable=True),
        sa.Column("keeper_start", sa.BigInteger(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_deployments"),
    )
    _child(
        "deployment_events",
        sa.Column("at", WHEN, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", SHA, nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
    )
    op.create_index("ix_deployment_events_deployment", "deployment_events", ["deployment"])
    _child(
        "deployment_windows",
        sa.Column("version", SHA, nullable=True),
        sa.Column("start", WHEN, nullable=False),
        sa.Column("end", WHEN, nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("p50_ms", sa.Float(), nullable=True),
        sa.Column("p90_ms", sa.Float(), nullable=True),
        sa.Column("p99_ms", sa.Float(), nullable=True),
        sa.Column("max_ms", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_deployment_windows_deployment_end", "deployment_windows", ["deployment", "end"]
    )
    _child(
        "deployment_samples",
        sa.Column("version", SHA, nullable=True),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
    )
    op.create_index("ix_deployment_samples_deployment", "deployment_samples", ["deployment"])


def downgrade() -> None:
    for table in ("deployment_samples", "deployment_windows", "deployment_events"):
        op.drop_table(table)
    op.drop_table("deployments")

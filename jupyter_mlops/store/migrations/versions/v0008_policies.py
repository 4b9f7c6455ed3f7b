"""Retraining policies: one per deployment, with the loop's memory (when it last fired and
what came of it). The row goes with its deployment (``ON DELETE CASCADE``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "policies",
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("notebook", sa.Text(), nullable=False),
        sa.Column("function", sa.String(255), nullable=True),
        sa.Column("sweep", sa.JSON(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("gate", sa.Text(), nullable=True),
        sa.Column("promote", sa.String(64), nullable=False),
        sa.Column("approval", sa.String(16), nullable=False),
        sa.Column("after", sa.Integer(), nullable=False),
        sa.Column("within_s", sa.Float(), nullable=False),
        sa.Column("cooldown_s", sa.Float(), nullable=False),
        sa.Column("schedule_s", sa.Float(), nullable=True),
        sa.Column("enabled", sa.Integer(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("last_fired_at", when, nullable=True),
        sa.Column("last_outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("deployment", name="pk_policies"),
        sa.ForeignKeyConstraint(
            ["deployment"],
            ["deployments.name"],
            name="fk_policies_deployment_deployments",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("policies")

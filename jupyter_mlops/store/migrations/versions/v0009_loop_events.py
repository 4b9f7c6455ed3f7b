"""The loop's event log: drift, run, gate, promote, redeploy, rollback, with the ids of each;
and the run an alias was promoted with (``aliases.run_id``, ``alias_history.run_id``).

Indexed by ``(deployment, id)`` and ``(function, id)``: ``events NAME`` reads the newest
events of one deployment or one function, in the order they were written.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "loop_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployment", sa.String(255), nullable=True),
        sa.Column("function", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_loop_events"),
    )
    op.create_index("ix_loop_events_deployment_id", "loop_events", ["deployment", "id"])
    op.create_index("ix_loop_events_function_id", "loop_events", ["function", "id"])
    # A retrained run has the same code version as its champion: the alias names the run.
    for table in ("aliases", "alias_history"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("run_id", sa.String(32), nullable=True))
    # A policy's live gate: what a promoted version must keep while serving, else rolled back.
    with op.batch_alter_table("policies") as batch:
        batch.add_column(sa.Column("live_gate", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.drop_column("live_gate")
    for table in ("aliases", "alias_history"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("run_id")
    op.drop_table("loop_events")

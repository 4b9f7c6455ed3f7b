"""Drift: each monitoring window's field counts, and each deployment's references.

The serving process counts every request's fields into the bins of the references recorded
at training time (``jupyter_mlops.drift``); a window keeps those counts, and the deployment
keeps the references it was started with, so drift can be judged later from the store alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment_windows") as batch:
        batch.add_column(sa.Column("drift", sa.JSON(), nullable=True))
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("drift_references", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reference_source", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("reference_source")
        batch.drop_column("drift_references")
    with op.batch_alter_table("deployment_windows") as batch:
        batch.drop_column("drift")

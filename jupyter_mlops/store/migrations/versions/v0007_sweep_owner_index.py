"""An index for the sweeps a store's reconcile looks at: running ones of this host.

Every store open (and a read at most every 2 s) asks for the sweeps still ``running`` on this
host, to mark those whose process died. Runs had ``(status, host)`` from the start; sweeps
had no index, so on a team's PostgreSQL store with many sweeps that was a full scan each time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_sweeps_status_host", "sweeps", ["status", "host"])


def downgrade() -> None:
    op.drop_index("ix_sweeps_status_host", table_name="sweeps")

"""Indexes for two queries that scanned whole tables, found by EXPLAIN on PostgreSQL.

- ``sweeps(status, host)``: every store open (and a read at most every 2 s) asks for the
  sweeps still ``running`` on this host, to mark those whose process died. Runs had
  ``(status, host)`` from the start; sweeps had nothing, so a team's store with many sweeps
  was scanned each time.
- ``deployments(function)``: the audit of a function lists the deployments serving it.

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

INDEXES = {
    "ix_sweeps_status_host": ("sweeps", ["status", "host"]),
    "ix_deployments_function": ("deployments", ["function"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _columns) in INDEXES.items():
        op.drop_index(name, table_name=table)

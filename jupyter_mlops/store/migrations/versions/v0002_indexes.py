"""Indexes for listing, sorting by a metric, finding artifacts and reconciling runs.

Kept apart from the tables so a store made by the first release is upgraded in place: the
listing query walks ``ix_runs_function_status_created_at_id`` or, sorted by a metric,
``ix_metrics_name_value_run_id`` and stops after one page (ANALYZE runs after migrating).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_runs_created_at_id": ("runs", ["created_at", "id"]),
    "ix_runs_function_status_created_at_id": ("runs", ["function", "status", "created_at", "id"]),
    "ix_runs_notebook_created_at_id": ("runs", ["notebook", "created_at", "id"]),
    "ix_runs_sweep_id_created_at_id": ("runs", ["sweep_id", "created_at", "id"]),
    "ix_runs_function_version": ("runs", ["function", "version"]),
    "ix_runs_status_host": ("runs", ["status", "host"]),
    "ix_metrics_name_value_run_id": ("metrics", ["name", "value", "run_id"]),
    "ix_artifacts_name_run_id": ("artifacts", ["name", "run_id"]),
    "ix_artifacts_sha256": ("artifacts", ["sha256"]),
    "ix_alias_history_function_alias_moved_at": (
        "alias_history",
        ["function", "alias", "moved_at"],
    ),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _columns) in INDEXES.items():
        op.drop_index(name, table_name=table)

"""Read-modify-write without lost updates, on SQLite and on a shared PostgreSQL.

On SQLite every write transaction begins ``IMMEDIATE`` (``database.py``): it holds the one
write lock from its first statement, so reading a row and then changing it is safe. On
PostgreSQL writers run side by side (READ COMMITTED), so two of them could read the same
row, both decide, and one overwrite the other: two alias moves recording the same
``previous``, two redeploys making one generation, a keeper claimed twice. Hence:

- ``locked``: read the row with ``SELECT … FOR NO KEY UPDATE``; a second writer waits at that read
  until the first commits, then sees its change. (SQLite's compiler leaves the clause out.)
- ``insert_new``: insert a row unless its key exists, in one statement (``ON CONFLICT DO
  NOTHING``), where a "get, then add" would raise a duplicate-key error when two writers
  create the same version at once.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, inspect
from sqlalchemy.orm import Session

from .models import Base

Row = TypeVar("Row", bound=Base)


def locked(session: Session, model: type[Row], key: Any) -> Row | None:
    """The row with primary key ``key``, locked until the transaction ends (None: no row).

    ``FOR NO KEY UPDATE`` on PostgreSQL: its key stays as it is, so rows that refer to it
    (a run's metrics, a deployment's events) can still be inserted meanwhile.
    """
    lock = {"key_share": True}
    return session.get(model, key, with_for_update=lock, populate_existing=True)


def insert_new(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert ``values`` unless a row with their primary key exists; True when inserted."""
    dialect = session.get_bind().dialect.name
    keys = [column.name for column in inspect(model).primary_key]
    table = cast(Table, model.__table__)  # a Core insert, not the ORM's bulk insert path
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=keys)
        return _inserted(session, pg)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=keys)
        return _inserted(session, lite)
    if session.get(model, tuple(values[key] for key in keys)) is not None:
        return False
    session.execute(insert(model).values(values))
    return True


def _inserted(session: Session, statement: Any) -> bool:
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING.
    key = next(iter(statement.table.primary_key.columns))
    return session.execute(statement.returning(key)).first() is not None

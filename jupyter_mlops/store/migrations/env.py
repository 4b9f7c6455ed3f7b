"""Alembic environment: migrates the connection the store hands over (no alembic.ini).

``migrate.upgrade`` passes an open connection, already inside a transaction that holds the
migration lock, in ``config.attributes["connection"]``; Alembic then runs every step inside
that one transaction. Developers can still run ``alembic`` against a URL given as
``sqlalchemy.url`` (online) or print the SQL (offline).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from jupyter_mlops.store.models import Base


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        transactional_ddl=True,  # SQLite and PostgreSQL both roll DDL back
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    if url is None:
        raise RuntimeError("set sqlalchemy.url to migrate a store outside jupyter_mlops")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
            connection.commit()
    finally:
        engine.dispose()


run()

"""Alembic migrations of the run store, run by ``jupyter_mlops.store.migrate`` on open."""

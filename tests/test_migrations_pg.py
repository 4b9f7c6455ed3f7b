"""Migrations on both backends, tested as MLflow tests its own: rows written by an older
schema with plain SQL, the store upgraded to head by opening it, the rows read back whole.

SQLite is a file in tmp_path; PostgreSQL a fresh database on the throw-away cluster
(tests/postgres.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from jupyter_mlops.store import Store
from jupyter_mlops.store.database import Database
from jupyter_mlops.store.migrate import HEAD, MIGRATIONS, current_revision, upgrade

SHA_A = "a" * 64
SHA_B = "b" * 64
OLD = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'mlops.db'}"


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    opened = Database(url)
    yield opened
    opened.dispose()


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _when(db: Database, moment: datetime = OLD) -> object:
    """A time as the old schema stored it: naive UTC text on SQLite, timestamptz elsewhere."""
    if db.is_sqlite:
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def _insert(db: Database, table: str, **row: object) -> None:
    columns = ", ".join(f'"{name}"' for name in row)
    values = ", ".join(f":{name}" for name in row)
    with db.writer.connect() as connection, connection.begin():
        connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)


def test_every_migration_runs_and_head_matches_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from jupyter_mlops.store.models import Base

    revisions = [
        script.revision
        for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()
    ]
    for revision in reversed(revisions):  # one step at a time, oldest first
        assert upgrade(db, revision) is True
        assert current_revision(db) == revision
    assert current_revision(db) == HEAD
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_every_migration_downgrades_to_an_empty_database(db: Database) -> None:
    from alembic import command

    upgrade(db, HEAD)
    config = _alembic_config()
    with db.writer.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    with db.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    assert upgrade(db, HEAD) is True  # and up again from nothing


def test_rows_written_at_revision_0003_survive_the_upgrade_to_head(
    db: Database, url: str, tmp_path: Path
) -> None:
    # Given a store at 0003 (deployments, no actors, no drift, no lineage), written with SQL
    upgrade(db, "0003")
    assert current_revision(db) == "0003"
    run_id, other_id = uuid.uuid4().hex, uuid.uuid4().hex
    for ident, value in ((run_id, 0.9), (other_id, 0.7)):
        _insert(db, "runs", id=ident, notebook="old.ipynb", function="train", version=SHA_A,
                parameters='{"a": 1}', status="succeeded", created_at=_when(db),
                executor="local", inputs="{}")  # fmt: skip
        _insert(db, "metrics", run_id=ident, name="accuracy", value=value)
    _insert(db, "artifacts", id=uuid.uuid4().hex, run_id=run_id, name="train/model",
            kind="model", sha256=SHA_A, size=3, created_at=_when(db))  # fmt: skip
    for version in (SHA_A, SHA_B):
        _insert(db, "versions", function="train", version=version, notebook="old.ipynb",
                code="fit()", created_at=_when(db))  # fmt: skip
    _insert(db, "aliases", function="train", alias="production", version=SHA_A,
            updated_at=_when(db))  # fmt: skip
    _insert(db, "alias_history", function="train", alias="production", version=SHA_A,
            previous=None, moved_at=_when(db))  # fmt: skip
    _insert(db, "deployments", name="churn", notebook="old.ipynb", notebook_path="old.ipynb",
            function="train", version=SHA_A, alias="production", from_run=run_id,
            binding='{"inputs": []}', host="127.0.0.1", port=8900, token_sha256=SHA_B,
            options='{"workers": 2}', desired="running", generation=3, status="running",
            restarts=1, created_at=_when(db), updated_at=_when(db))  # fmt: skip
    _insert(db, "deployment_events", deployment="churn", at=_when(db), kind="deployed",
            version=SHA_A, message="from 0003")  # fmt: skip
    _insert(db, "deployment_windows", deployment="churn", version=SHA_A, start=_when(db),
            end=_when(db), requests=10, errors=1, rejected=0, p50_ms=2.5)  # fmt: skip
    db.dispose()

    # When this release opens it
    with Store(url, tmp_path / "artifacts") as store:
        # Then it is at head, every row is there with its values, new columns are empty
        assert current_revision(store._db) == HEAD
        run = store.get_run(run_id)
        assert run.parameters == {"a": 1}
        assert run.metrics == {"accuracy": 0.9}
        assert run.created_at == OLD
        assert (run.actor, run.worker, run.external_id) == (None, None, None)
        assert [a.name for a in run.artifacts] == ["train/model"]
        page = store.list_runs(function="train", order_by="metric:accuracy")
        assert [r.id for r in page.runs] == [run_id, other_id]
        assert [v.version for v in store.list_versions("train")] == sorted([SHA_A, SHA_B])
        assert store.get_version("train", "production").version == SHA_A
        assert store.get_version("train", SHA_A).run_count == 2
        history = store.alias_history("train", "production")
        assert [(m.version, m.previous, m.actor) for m in history] == [(SHA_A, None, None)]
        store.set_alias("train", SHA_B, "production", actor="ada")  # the new actor column
        history = store.alias_history("train", "production")
        assert [(m.version, m.previous, m.actor) for m in history] == [
            (SHA_A, None, None),
            (SHA_B, SHA_A, "ada"),
        ]
        deployment = store.deployments.get("churn")
        assert (deployment.generation, deployment.options, deployment.actor) == (
            3,
            {"workers": 2},
            None,
        )
        assert deployment.from_run == run_id
        assert [(e.kind, e.message, e.actor) for e in store.deployments.events("churn")] == [
            ("deployed", "from 0003", None)
        ]
        assert [(w.requests, w.p50_ms) for w in store.deployments.windows("churn")] == [(10, 2.5)]
        assert store.drift.references("churn") == ({}, None)
        assert store.lineage.of_run(run_id) == []

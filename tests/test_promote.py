"""The loop's event log (``store/loop_events.py``) on a real SQLite file and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.errors import StoreError
from jupyter_mlops.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'mlops.db'}"
    opened = Store(url, tmp_path / "artifacts")
    yield opened
    opened.close()


def test_events_are_listed_oldest_first_with_ids_and_refs(store: Store) -> None:
    first = store.events.record("run", function="train", refs={"run_id": "r1"}, message="ran")
    second = store.events.record("gate", function="train", refs={"run_id": "r1"}, message="ok")
    store.events.record("run", function="other", refs={"run_id": "r2"})
    listed = store.events.timeline("train")
    assert [(e.id, e.kind) for e in listed] == [(first.id, "run"), (second.id, "gate")]
    assert listed[0].refs == {"run_id": "r1"}
    assert second.id > first.id
    assert [e.kind for e in store.events.timeline("train", limit=1)] == ["gate"]
    assert len(store.events.timeline()) == 3


def test_a_promote_event_records_the_alias_move_it_made(store: Store) -> None:
    version = "c" * 64
    store.register_version("train", version, notebook="nb.ipynb", code="x = 1")
    event = store.events.move_alias(
        "train", version, "production", refs={"run_id": "r1"}, message="promoted", actor="ann"
    )
    moves = store.alias_history("train", "production")
    assert [(m.version, m.actor) for m in moves] == [(version, "ann")]
    assert event.refs["alias_history"] is not None
    assert event.refs["version"] == version
    again = store.events.move_alias(
        "train", version, "production", refs={}, message="promoted", actor="ann"
    )
    assert again.refs["alias_history"] is None
    assert "already" in (again.message or "")
    assert len(store.alias_history("train", "production")) == 1


def test_a_bad_event_is_refused_by_name(store: Store) -> None:
    with pytest.raises(StoreError, match="not a loop event: 'bogus'"):
        store.events.record("bogus", function="train")
    with pytest.raises(StoreError, match="names a deployment or a function"):
        store.events.record("run")


def test_gate_grammar_good_and_bad() -> None:
    from jupyter_mlops.loop.gate import GateError, evaluate, parse

    clauses = parse("accuracy >= production-0.01 and loss<0.5")
    assert [(c.metric, c.op, c.alias, c.delta, c.number) for c in clauses] == [
        ("accuracy", ">=", "production", -0.01, None),
        ("loss", "<", None, 0.0, 0.5),
    ]
    with pytest.raises(GateError, match=r"at character 1$"):
        parse("accuracy >= ")
    results = evaluate(clauses, {"accuracy": 0.9}, lambda alias: None)
    assert results[0]["passed"] is True
    assert "no champion" in results[0]["note"]
    assert results[1]["passed"] is False
    beaten = evaluate(clauses[:1], {"accuracy": 0.8}, lambda alias: {"accuracy": 0.9})
    assert beaten[0]["passed"] is False


def test_gate_error_names_where_the_second_clause_breaks() -> None:
    from jupyter_mlops.loop.gate import GateError, parse

    with pytest.raises(GateError, match="expected 'and' at character 16"):
        parse("accuracy > 0.5 or loss < 1")

"""The store's deployment, drift, lineage and audit records on SQLite and on PostgreSQL.

The service-level tests drive these through kernels and serving processes on SQLite; here
the store calls themselves run on both backends (a SQLite file in tmp_path, a fresh database
on the throw-away PostgreSQL of tests/postgres.py), with the values that differ between them:
JSON (None, nested), aware timestamps, 64-bit process start times, cascades, trims, counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from jupyter_mlops.errors import ConflictError, NotFoundError
from jupyter_mlops.store import Store
from jupyter_mlops.store.audit import audit
from jupyter_mlops.store.owner import Owner, this_process

SHA_A = "a" * 64
SHA_B = "b" * 64
DATA = "d" * 64


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with Store.for_root(tmp_path / "project", url=url) as opened:
        yield opened


def deploy(store: Store, name: str = "churn", **fields: Any) -> Any:
    arguments: dict[str, Any] = {
        "name": name,
        "notebook": "nb.ipynb",
        "notebook_path": "/work/nb.ipynb",
        "function": "predict",
        "version": SHA_A,
        "host": "127.0.0.1",
        "port": 8900,
        "token_sha256": SHA_B,
        "binding": [{"name": "model", "run": None, "sha256": None}],
        "options": {"workers": 2, "limits": {"rps": 5.5}},
        "actor": "ada",
    }
    arguments.update(fields)
    return store.deployments.create(**arguments)


def test_a_deployment_keeps_what_was_asked_and_what_is(store: Store) -> None:
    created = deploy(store)
    assert created.options == {"workers": 2, "limits": {"rps": 5.5}}
    assert created.created_at.tzinfo is not None
    with pytest.raises(ConflictError, match="'churn' exists"):
        deploy(store)
    wanted = store.deployments.want("churn", version=SHA_B, binding=[{"name": "x", "run": "r"}])
    assert (wanted.generation, wanted.version, wanted.binding) == (
        2,
        SHA_B,
        [{"name": "x", "run": "r"}],
    )
    reported = store.deployments.report("churn", status="running", serving_generation=2,
                                        serving_version=SHA_B, serve_pid=4242)  # fmt: skip
    assert (reported.status, reported.serving_version, reported.serve_pid) == (
        "running",
        SHA_B,
        4242,
    )
    assert reported.updated_at >= created.updated_at
    me = this_process()
    big = Owner(me.host, me.pid, 2**40)  # a process start time beyond 32 bits
    assert store.deployments.claim_keeper("churn", big) is True
    assert store.deployments.get("churn").keeper_start == 2**40
    store.deployments.release_keeper("churn", big)
    assert store.deployments.get("churn").keeper_pid is None
    assert [d.name for d in store.deployments.every()] == ["churn"]
    store.deployments.delete("churn")
    with pytest.raises(NotFoundError, match="no deployment named 'churn'"):
        store.deployments.get("churn")


def test_events_windows_and_samples_are_trimmed_and_go_with_their_deployment(
    store: Store,
) -> None:
    deploy(store)
    for index in range(5):
        store.deployments.add_event("churn", "restarted", SHA_A, f"#{index}", actor="ada")
    now = time.time()
    for index in range(4):
        store.deployments.add_window(
            "churn",
            SHA_A,
            {
                "start": now - 10 + index, "end": now - 9 + index, "requests": 10, "errors": 1,
                "rejected": index, "p50_ms": 1.0 + index, "p90_ms": 2.0, "p99_ms": 9.5,
                "samples": [
                    {"at": now, "status": 200, "latency_ms": 1.5, "input": {"x": [1, 2]},
                     "output": None},
                    {"at": now, "status": 500, "latency_ms": 3.0, "input": None, "output": "e"},
                ],
            },
            keep_samples=3,
        )  # fmt: skip
    events = store.deployments.events("churn", limit=3)
    assert [(e.kind, e.message, e.actor) for e in events] == [
        ("restarted", f"#{i}", "ada") for i in (4, 3, 2)
    ]
    windows = store.deployments.windows("churn")
    assert [w.rejected for w in windows] == [0, 1, 2, 3]  # oldest first
    assert windows[0].start.tzinfo is not None
    samples = store.deployments.samples("churn")
    assert len(samples) == 3  # trimmed to keep_samples
    assert {(s.status, repr(s.input)) for s in samples} == {
        (200, "{'x': [1, 2]}"),
        (500, "None"),
    }
    totals = store.deployments.totals("churn")
    assert (totals["requests"], totals["errors"], totals["rejected"]) == (40, 4, 6)
    assert totals["p50_ms"] == 4.0
    assert store.deployments.totals("churn", since=timedelta(seconds=0))["p50_ms"] is None
    store.deployments.delete("churn")  # the children go with it (ON DELETE CASCADE)
    deploy(store)
    assert store.deployments.events("churn") == []
    assert store.deployments.windows("churn") == []
    assert store.deployments.samples("churn") == []


def test_drift_references_and_windows(store: Store) -> None:
    deploy(store)
    assert store.drift.references("churn") == ({}, None)
    references = {"age": {"kind": "numeric", "edges": [0.0, 30.5, 60.0], "counts": [3, 4]}}
    store.drift.set_references("churn", references, "run 1234")
    assert store.drift.references("churn") == (references, "run 1234")
    now = time.time()
    window = {"start": now - 5, "end": now, "requests": 3, "drift": {"age": [1, 2]}}
    store.deployments.add_window("churn", SHA_A, {"start": now - 10, "end": now - 5})  # no drift
    store.deployments.add_window("churn", SHA_A, window)
    drifted = store.drift.windows("churn")
    assert [(w.requests, w.fields) for w in drifted] == [(3, {"age": [1, 2]})]


def test_lineage_and_audit_answer_the_same_on_both_backends(store: Store, tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    data.write_text("id,age\n1,30\n", encoding="utf-8")
    store.register_version("predict", SHA_A, notebook="nb.ipynb", code="fit()")
    store.set_alias("predict", SHA_A, "production", actor="ada")
    run, _ = store.create_run(notebook="nb.ipynb", function="predict", version=SHA_A,
                              parameters={"data_path": str(data)}, actor="bob")  # fmt: skip
    store.start_run(run.id)
    store.finish_run(run.id, "succeeded")
    read = {"name": "data_path", "uri": str(data.resolve()), "sha256": DATA, "size": 13,
            "schema": [{"name": "id", "type": "int"}], "source": "parameter"}  # fmt: skip
    assert store.lineage.record(run.id, [read, {"sha256": "short"}]) == 1  # the bad one skipped
    deploy(store, function="predict", from_run=run.id)

    behind = store.lineage.behind("churn")
    assert behind["aliases"] == ["production"]
    assert [r["id"] for r in behind["runs"]] == [run.id]
    assert behind["runs"][0]["datasets"][0]["schema"] == [{"name": "id", "type": "int"}]
    by_hash = store.lineage.downstream(DATA)
    assert by_hash["run_count"] == 1
    assert [h["runs"] for h in by_hash["hashes"]] == [1]
    assert by_hash["versions"] == [{"function": "predict", "version": SHA_A}]
    assert [d["name"] for d in by_hash["deployments"]] == ["churn"]
    by_path = store.lineage.downstream(str(data))
    assert [r["id"] for r in by_path["runs"]] == [run.id]
    function = store.lineage.behind("predict")
    assert [v["version"] for v in function["versions"]] == [SHA_A]

    store.deployments.add_event("churn", "deployed", SHA_A, actor="carol")
    entries = audit(store, "churn")
    assert [(e["kind"], e["actor"]) for e in entries] == [
        ("deployment:deployed", "carol"),
        ("run", "bob"),
        ("alias", "ada"),
    ]
    assert all(datetime.fromisoformat(e["at"]).tzinfo == timezone.utc for e in entries)

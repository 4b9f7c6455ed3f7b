"""The run store: real SQLite files in tmp_path, real threads and real processes."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.errors import NotFoundError, StoreError
from jupyter_mlops.store import Run, Store
from jupyter_mlops.store.artifacts import INCOMING, BlobStore
from jupyter_mlops.store.database import Database
from jupyter_mlops.store.migrate import HEAD, MIGRATIONS, current_revision, ensure_schema, upgrade

SHA_A = "a" * 64
SHA_B = "b" * 40 + "c" * 24


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "project"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, root: Path) -> Iterator[Store]:
    """Every test that takes ``store`` runs on a SQLite file and on a fresh PostgreSQL database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    opened = Store.for_root(root, url=url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(root: Path) -> Iterator[Store]:
    """For the tests about the SQLite file itself (its pragmas, WAL)."""
    with Store.for_root(root) as opened:
        yield opened


def db_file(root: Path) -> Path:
    return root / ".mlops" / "mlops.db"


def new_run(store: Store, **fields: object) -> Run:
    arguments: dict[str, object] = {"notebook": "nb.ipynb", "parameters": {}}
    arguments.update(fields)
    run, created = store.create_run(**arguments)  # type: ignore[arg-type]
    assert created
    return run


def python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- the life of a run -------------------------------------------------------------------------


def test_a_run_goes_from_queued_to_running_to_succeeded_with_its_times_and_owner(
    store: Store,
) -> None:
    run = new_run(store, function="train", parameters={"alpha": 0.5}, inputs={"x": {"run": "r"}})
    assert (run.status, run.started_at, run.ended_at, run.duration) == ("queued", None, None, None)
    assert len(run.id) == 32
    assert run.created_at.tzinfo is not None

    started = store.start_run(run.id)
    assert started.status == "running"
    assert started.pid == os.getpid()
    assert started.host

    store.log_metrics(run.id, {"accuracy": 0.75})
    done = store.finish_run(run.id, "succeeded", metrics={"loss": 0.25})

    assert done.status == "succeeded"
    assert done.metrics == {"accuracy": 0.75, "loss": 0.25}
    assert done.started_at is not None
    assert done.ended_at is not None
    assert done.duration is not None
    assert done.duration >= 0
    assert done.parameters == {"alpha": 0.5}
    assert done.inputs == {"x": {"run": "r"}}
    assert json.loads(json.dumps(done.to_dict()))["status"] == "succeeded"
    assert store.get_run(run.id) == done


def test_a_finished_run_is_final(store: Store) -> None:
    run = new_run(store)
    store.start_run(run.id)
    error = {"cell": 3, "ename": "ValueError", "evalue": "bad"}
    failed = store.finish_run(run.id, "failed", error=error)
    assert failed.error == error

    with pytest.raises(StoreError, match=f"run {run.id}: it is already failed"):
        store.finish_run(run.id, "succeeded")
    with pytest.raises(StoreError, match="already failed"):
        store.log_metrics(run.id, {"accuracy": 1.0})
    with pytest.raises(StoreError, match="already failed"):
        store.add_artifact(run.id, "model", "model", data=b"x")
    with pytest.raises(StoreError, match="already failed"):
        store.update_run(run.id, inputs={})
    with pytest.raises(StoreError, match="only a queued run can start"):
        store.start_run(run.id)
    with pytest.raises(StoreError, match="'running'"):
        store.finish_run(new_run(store).id, "running")
    assert store.get_run(run.id).status == "failed"


def test_a_queued_run_can_be_cancelled_without_starting(store: Store) -> None:
    run = store.finish_run(new_run(store).id, "cancelled")
    assert run.status == "cancelled"
    assert run.started_at is None
    assert run.ended_at is not None


def test_update_run_sets_inputs_and_version(store: Store) -> None:
    run = new_run(store)
    updated = store.update_run(
        run.id, inputs={"df": {"run": "abc", "how": "newest"}}, version=SHA_A
    )
    assert updated.inputs == {"df": {"run": "abc", "how": "newest"}}
    assert updated.version == SHA_A


def test_parameters_that_json_cannot_hold_are_refused_by_name(store: Store) -> None:
    with pytest.raises(StoreError, match="parameters cannot be stored as JSON"):
        store.create_run(notebook="nb.ipynb", parameters={"x": object()})


# -- idempotency -------------------------------------------------------------------------------


def test_an_idempotency_key_returns_the_run_already_recorded(store: Store) -> None:
    first, created = store.create_run(notebook="nb.ipynb", parameters={}, idempotency_key="k1")
    again, created_again = store.create_run(
        notebook="nb.ipynb", parameters={"other": 1}, idempotency_key="k1"
    )
    assert created
    assert not created_again
    assert again.id == first.id
    assert len(store.list_runs().runs) == 1


def test_threads_racing_with_one_idempotency_key_record_one_run(store: Store) -> None:
    barrier = threading.Barrier(8)
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def submit() -> None:
        barrier.wait()
        run, created = store.create_run(notebook="nb.ipynb", parameters={}, idempotency_key="same")
        with lock:
            results.append((run.id, created))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(store.list_runs().runs) == 1


# -- lookups by prefix -------------------------------------------------------------------------


def test_a_unique_prefix_of_four_or_more_characters_finds_the_run(store: Store) -> None:
    run = new_run(store)
    assert store.get_run(run.id[:4]).id == run.id
    assert store.get_run(run.id[:9].upper()).id == run.id
    with pytest.raises(NotFoundError, match="at least 4 hex"):
        store.get_run(run.id[:3])
    with pytest.raises(NotFoundError, match="at least 4 hex"):
        store.get_run("zzzz")
    unknown = "0000" if not run.id.startswith("0000") else "ffff"
    with pytest.raises(NotFoundError, match=f"no run whose id starts with '{unknown}'"):
        store.get_run(unknown)


def test_an_ambiguous_prefix_names_the_candidates(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter([uuid.UUID("abcd0000" + "0" * 24), uuid.UUID("abcd1111" + "1" * 24)])
    monkeypatch.setattr("jupyter_mlops.store.store.uuid4", lambda: next(ids))
    new_run(store)
    new_run(store)
    with pytest.raises(NotFoundError, match="ambiguous: it matches abcd00000000, abcd11111111"):
        store.get_run("abcd")
    assert store.get_run("abcd1").id.startswith("abcd1111")


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_are_upserted_by_name(store: Store) -> None:
    run = new_run(store)
    store.log_metrics(run.id, {"accuracy": 0.5, "loss": 2})
    store.log_metrics(run.id, {"accuracy": 0.9})
    assert store.get_run(run.id).metrics == {"accuracy": 0.9, "loss": 2.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "is nan"),
        (math.inf, "is inf"),
        (-math.inf, "is -inf"),
        ("0.5", "must be a number, not str"),
        (True, "must be a number, not bool"),
        (None, "must be a number, not NoneType"),
    ],
)
def test_a_metric_that_is_not_a_finite_number_is_refused_by_name(
    store: Store, value: object, message: str
) -> None:
    run = new_run(store)
    with pytest.raises(StoreError, match=f"metric 'accuracy' of run {run.id} {message}"):
        store.log_metrics(run.id, {"accuracy": value, "loss": 1.0})
    assert store.get_run(run.id).metrics == {}  # nothing of the batch is kept


# -- artifacts ---------------------------------------------------------------------------------


def test_the_same_bytes_from_two_runs_are_stored_once(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights" * 1000)
    first = store.add_artifact(new_run(store).id, "train/model", "model", path=source)
    second = store.add_artifact(new_run(store).id, "train/model", "model", data=source.read_bytes())

    assert first.id != second.id
    assert first.sha256 == second.sha256
    assert first.size == 7000
    assert first.path == second.path == store.artifact_path(second.id[:6])
    blobs = [p for p in store.artifacts_dir.rglob("*") if p.is_file()]
    assert blobs == [first.path]
    assert first.path.relative_to(store.artifacts_dir).parts == (first.sha256[:2], first.sha256)
    with store.open_artifact(first.id) as stream:
        assert stream.read() == source.read_bytes()


def test_an_artifact_added_twice_replaces_the_first_and_the_output_notebook_follows(
    store: Store,
) -> None:
    run = new_run(store)
    old = store.add_artifact(run.id, "output.ipynb", "notebook", data=b"{}")
    store.set_output_notebook(run.id, old.id)
    new = store.add_artifact(run.id, "output.ipynb", "notebook", data=b'{"cells": []}')
    recorded = store.get_run(run.id)
    assert [a.id for a in recorded.artifacts] == [new.id]
    assert recorded.output_notebook == new.id
    with pytest.raises(NotFoundError):
        store.artifact(old.id)


def test_one_call_replaces_stored_names_and_a_name_given_twice_keeps_the_last(
    store: Store, tmp_path: Path
) -> None:
    run = new_run(store)
    kept = store.add_artifact(run.id, "kept", "value", data=b"1")
    old = store.add_artifact(run.id, "model", "model", data=b"old")
    files = []
    for name, data in [("model", b"new"), ("metrics", b"a"), ("metrics", b"b")]:
        path = tmp_path / f"{name}-{data.decode()}"
        path.write_bytes(data)
        files.append((name, "value", path))
    added = store.add_artifacts(run.id, files)
    assert len(added) == 3
    recorded = {a.name: a for a in store.get_run(run.id).artifacts}
    assert sorted(recorded) == ["kept", "metrics", "model"]
    assert recorded["kept"].id == kept.id
    assert recorded["model"].id == added[0].id
    assert recorded["metrics"].id == added[2].id
    with store.open_artifact(recorded["metrics"].id) as stream:
        assert stream.read() == b"b"
    with pytest.raises(NotFoundError):
        store.artifact(old.id)


def test_bad_artifact_arguments_are_refused(store: Store, tmp_path: Path) -> None:
    run = new_run(store)
    with pytest.raises(StoreError, match="unknown kind 'weights'"):
        store.add_artifact(run.id, "m", "weights", data=b"x")
    with pytest.raises(StoreError, match="exactly one of path or data"):
        store.add_artifact(run.id, "m", "model")
    with pytest.raises(StoreError, match="no file at"):
        store.add_artifact(run.id, "m", "model", path=tmp_path / "missing")
    other = store.add_artifact(new_run(store).id, "m", "model", data=b"x")
    with pytest.raises(NotFoundError, match=f"artifact of run {run.id}"):
        store.set_output_notebook(run.id, other.id)


def test_newest_artifact_is_from_the_newest_run_with_the_status(store: Store) -> None:
    assert store.newest_artifact("train/model") is None
    old = new_run(store, notebook="a.ipynb")
    store.add_artifact(old.id, "train/model", "model", data=b"old")
    store.finish_run(old.id, "succeeded")
    new = new_run(store, notebook="a.ipynb")
    store.add_artifact(new.id, "train/model", "model", data=b"new")
    store.finish_run(new.id, "failed")
    other = new_run(store, notebook="b.ipynb")
    store.add_artifact(other.id, "train/model", "model", data=b"other")
    store.finish_run(other.id, "succeeded")

    found = store.newest_artifact("train/model", notebook="a.ipynb")
    assert found is not None
    assert found.run_id == old.id
    anything = store.newest_artifact("train/model", status=None)
    assert anything is not None
    assert anything.run_id == other.id


class _BrokenSource(io.RawIOBase):
    """A source that gives some bytes, then fails like a vanished network mount."""

    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.calls += 1
        if self.calls > 3:
            raise OSError(5, "Input/output error")
        buffer[:4] = b"data"
        return 4


def test_a_copy_that_fails_midway_leaves_no_partial_blob(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "artifacts")
    with pytest.raises(OSError, match="Input/output error"):
        blobs.put_stream(_BrokenSource())  # type: ignore[arg-type]
    assert list((tmp_path / "artifacts").iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and EFBIG")
def test_a_full_disk_mid_write_keeps_the_previous_artifact_and_the_database(
    root: Path, tmp_path: Path
) -> None:
    # Given a run with a small artifact
    with Store.for_root(root) as store:
        run = new_run(store)
        before = store.add_artifact(run.id, "train/model", "model", data=b"small model")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    # When another process replaces it with a file larger than it may write (a real EFBIG)
    result = python(
        """
        import resource, signal, sys
        from jupyter_mlops.errors import StoreError
        from jupyter_mlops.store import Store
        store = Store.for_root(sys.argv[1])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, resource.RLIM_INFINITY))
        try:
            store.add_artifact(sys.argv[2], "train/model", "model", path=sys.argv[3])
        except StoreError as err:
            print("refused:", err)
        store.close()
        """,
        str(root),
        run.id,
        str(big),
    )
    # Then it fails cleanly: the old artifact, its blob and the database are as they were
    assert "refused: could not store artifact 'train/model'" in result.stdout, result.stderr
    with Store.for_root(root) as store:
        (kept,) = store.get_run(run.id).artifacts
        assert kept == before
        assert kept.path.read_bytes() == b"small model"
    leftovers = [p.name for p in (root / ".mlops" / "artifacts").iterdir() if p.is_file()]
    assert not [name for name in leftovers if name.startswith(INCOMING)]


def test_stale_temporary_files_are_removed_on_open(root: Path) -> None:
    Store.for_root(root).close()
    stale = root / ".mlops" / "artifacts" / f"{INCOMING}dead"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    Store.for_root(root).close()
    assert not stale.exists()


# -- listing -----------------------------------------------------------------------------------


def _walk(store: Store, **options: object) -> list[Run]:
    seen: list[Run] = []
    cursor: str | None = None
    while True:
        page = store.list_runs(limit=7, cursor=cursor, **options)  # type: ignore[arg-type]
        seen += page.runs
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_keyset_pages_walk_every_run_exactly_once_sorted_by_a_metric_with_ties(
    store: Store,
) -> None:
    runs = [new_run(store, function="train") for _ in range(40)]
    for index, run in enumerate(runs):
        if index % 8 != 0:  # every eighth run has no accuracy and must sort last
            store.log_metrics(run.id, {"accuracy": float(index % 4)})  # many ties

    for descending in (True, False):
        walked = _walk(store, order_by="metric:accuracy", descending=descending)
        assert sorted(r.id for r in walked) == sorted(r.id for r in runs)
        with_metric = [r for r in walked if "accuracy" in r.metrics]
        assert len(with_metric) == 35
        assert walked[:35] == with_metric
        values = [r.metrics["accuracy"] for r in with_metric]
        assert values == sorted(values, reverse=descending)
        without = walked[35:]
        assert [r.created_at for r in without] == sorted(
            (r.created_at for r in without), reverse=True
        )


def test_keyset_pages_by_time_in_both_directions(store: Store) -> None:
    runs = [new_run(store) for _ in range(20)]
    newest_first = _walk(store)
    assert [r.id for r in newest_first] == [r.id for r in reversed(runs)]
    assert [r.id for r in _walk(store, descending=False)] == [r.id for r in runs]


def test_a_run_added_between_pages_does_not_shift_the_next_page(store: Store) -> None:
    runs = [new_run(store) for _ in range(10)]
    page = store.list_runs(limit=5)
    new_run(store)
    rest = store.list_runs(limit=5, cursor=page.next_cursor)
    assert [r.id for r in page.runs + rest.runs] == [r.id for r in reversed(runs)]


def test_filters_by_notebook_function_status_and_sweep(store: Store) -> None:
    sweep = store.create_sweep(notebook="a.ipynb", function="train", strategy="grid", space={})
    swept = new_run(store, notebook="a.ipynb", function="train", sweep_id=sweep.id)
    plain = new_run(store, notebook="a.ipynb", function="load")
    other = new_run(store, notebook="b.ipynb", function="train")
    store.finish_run(other.id, "failed")

    def ids(**filters: object) -> set[str]:
        return {r.id for r in store.list_runs(**filters).runs}  # type: ignore[arg-type]

    assert ids(notebook="a.ipynb") == {swept.id, plain.id}
    assert ids(function="train") == {swept.id, other.id}
    assert ids(function="train", status="failed") == {other.id}
    assert ids(sweep_id=sweep.id) == {swept.id}
    assert ids(function="train", order_by="metric:accuracy") == {swept.id, other.id}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 0}, "limit must be an integer from 1 to 1000"),
        ({"limit": 1001}, "limit must be an integer from 1 to 1000"),
        ({"order_by": "name"}, "cannot order runs by 'name'"),
        ({"status": "done"}, "unknown run status 'done'"),
        ({"cursor": "not-a-cursor"}, "invalid cursor"),
    ],
)
def test_bad_listing_arguments_are_refused(
    store: Store, options: dict[str, object], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.list_runs(**options)  # type: ignore[arg-type]


def test_a_cursor_from_another_order_is_refused(store: Store) -> None:
    for _ in range(3):
        new_run(store)
    cursor = store.list_runs(limit=1).next_cursor
    with pytest.raises(StoreError, match="ordered by created_at, not metric:loss"):
        store.list_runs(order_by="metric:loss", cursor=cursor)


# -- versions and aliases ----------------------------------------------------------------------


def test_versions_aliases_that_move_and_their_history(store: Store) -> None:
    first = store.register_version("train", SHA_A, notebook="nb.ipynb", code="fit()")
    assert store.register_version("train", SHA_A, notebook="nb.ipynb", code="fit()") == first
    store.register_version("train", SHA_B, notebook="nb.ipynb", code="fit(2)")
    new_run(store, function="train", version=SHA_B)
    new_run(store, function="train", version=SHA_B)

    assert store.set_alias("train", "aaaa", "production").aliases == ["production"]
    assert store.get_version("train", "production").version == SHA_A
    moved = store.set_alias("train", SHA_B[:6], "production")
    assert moved.version == SHA_B
    assert moved.aliases == ["production"]
    assert moved.run_count == 2
    store.set_alias("train", "production", "staging")

    listed = store.list_versions("train")
    assert [v.version for v in listed] == [SHA_B, SHA_A]
    assert listed[0].aliases == ["production", "staging"]
    assert listed[1].aliases == []
    history = store.alias_history("train", "production")
    assert [(m.previous, m.version) for m in history] == [(None, SHA_A), (SHA_A, SHA_B)]
    assert history[0].moved_at <= history[1].moved_at
    assert json.dumps([v.to_dict() for v in listed] + [m.to_dict() for m in history])


def test_version_errors_name_the_function_and_reference(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no versions of function 'train'"):
        store.get_version("train", "production")
    store.register_version("train", SHA_A, notebook="nb.ipynb", code="")
    with pytest.raises(NotFoundError, match="version of 'train'"):
        store.get_version("train", "bbbb")
    with pytest.raises(StoreError, match="alias '1st' is not allowed"):
        store.set_alias("train", "aaaa", "1st")
    with pytest.raises(StoreError, match="not a sha256"):
        store.register_version("train", "v1", notebook="nb.ipynb", code="")


# -- sweeps ------------------------------------------------------------------------------------


def test_a_sweep_is_created_finished_with_its_best_run_and_found_by_prefix(store: Store) -> None:
    sweep = store.create_sweep(
        notebook="nb.ipynb", function=None, strategy="grid", space={"a": [1, 2]}, select="max:acc"
    )
    assert sweep.status == "running"
    assert sweep.space == {"a": [1, 2]}
    run = new_run(store, sweep_id=sweep.id)
    outsider = new_run(store)
    with pytest.raises(NotFoundError, match=f"run of sweep {sweep.id}"):
        store.finish_sweep(sweep.id, "succeeded", best_run_id=outsider.id)
    done = store.finish_sweep(sweep.id[:6], "succeeded", best_run_id=run.id)
    assert done.best_run_id == run.id
    assert done.ended_at is not None
    assert store.get_sweep(sweep.id[:5]) == done
    with pytest.raises(StoreError, match="already succeeded"):
        store.finish_sweep(sweep.id, "failed")
    with pytest.raises(StoreError, match="unknown sweep strategy 'bayes'"):
        store.create_sweep(notebook="nb.ipynb", function=None, strategy="bayes", space={})
    with pytest.raises(NotFoundError, match="no sweep with id"):
        store.create_run(notebook="nb.ipynb", parameters={}, sweep_id="f" * 32)


# -- processes that die ------------------------------------------------------------------------

_DIE = """
import os, signal, sys
from jupyter_mlops.store import Store
store = Store.for_root(sys.argv[1])
run, _ = store.create_run(notebook="nb.ipynb", parameters={})
store.start_run(run.id)
queued, _ = store.create_run(notebook="nb.ipynb", parameters={})
print(run.id, queued.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""

_LIVE = """
import sys
from jupyter_mlops.store import Store
store = Store.for_root(sys.argv[1])
run, _ = store.create_run(notebook="nb.ipynb", parameters={})
store.start_run(run.id)
print(run.id, flush=True)
sys.stdin.read()
store.close()
"""


def test_runs_of_a_killed_process_become_interrupted_and_a_live_owner_keeps_its_run(
    root: Path,
) -> None:
    Store.for_root(root).close()
    died = python(_DIE, str(root))
    assert died.returncode == -signal.SIGKILL, died.stderr
    running_id, queued_id = died.stdout.split()
    live = subprocess.Popen(
        [sys.executable, "-c", _LIVE, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout is not None
        live_id = live.stdout.readline().strip()
        with Store.for_root(root) as store:  # opening reconciles
            interrupted = store.get_run(running_id)
            assert interrupted.status == "interrupted"
            assert interrupted.ended_at is not None
            assert interrupted.error is not None
            assert interrupted.error["ename"] == "Interrupted"
            assert store.get_run(queued_id).status == "interrupted"
            assert store.get_run(live_id).status == "running"
            assert store.reconcile_interrupted() == []
    finally:
        live.communicate("", timeout=30)


def test_a_reused_pid_does_not_keep_a_dead_run_running(root: Path) -> None:
    with Store.for_root(root) as store:
        run = store.start_run(new_run(store).id)
    # The run's pid (ours) is alive, but the recorded start time is another process's.
    with sqlite3.connect(db_file(root)) as connection:
        connection.execute("UPDATE runs SET process_start = 1 WHERE id = ?", (run.id,))
    connection.close()
    with Store.for_root(root) as store:
        assert store.get_run(run.id).status == "interrupted"


# -- concurrency -------------------------------------------------------------------------------


def test_many_threads_write_while_a_reader_lists(store: Store) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        try:
            for index in range(50):
                run, _ = store.create_run(
                    notebook="nb.ipynb",
                    function=f"f{worker}",
                    parameters={"i": index},
                    idempotency_key=f"{worker}-{index}",
                )
                store.start_run(run.id)
                store.log_metrics(run.id, {"accuracy": index / 50})
                store.finish_run(run.id, "succeeded", metrics={"loss": 1 - index / 50})
        except BaseException as err:
            errors.append(err)

    def reader() -> None:
        try:
            while not stop.is_set():
                store.list_runs(order_by="metric:accuracy", limit=20)
                store.list_runs(status="running")
        except BaseException as err:
            errors.append(err)

    polling = threading.Thread(target=reader)
    polling.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    polling.join()

    assert errors == []
    runs = store.list_runs(limit=1000).runs
    assert len(runs) == 400
    assert len({r.id for r in runs}) == 400
    assert {r.idempotency_key for r in runs} == {f"{w}-{i}" for w in range(8) for i in range(50)}
    assert {r.status for r in runs} == {"succeeded"}


_WRITER = """
import sys
from jupyter_mlops.store import Store
store = Store.for_root(sys.argv[1])
for index in range(40):
    key = f"{sys.argv[2]}-{index}"
    run, _ = store.create_run(notebook="nb.ipynb", parameters={}, idempotency_key=key)
    store.start_run(run.id)
    store.finish_run(run.id, "succeeded", metrics={"m": index})
store.close()
"""


def test_processes_writing_at_once_record_every_run(root: Path) -> None:
    Store.for_root(root).close()
    workers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(root), name], stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr.decode()
    with Store.for_root(root) as store:
        runs = store.list_runs(limit=1000).runs
    assert len(runs) == 80
    assert {r.status for r in runs} == {"succeeded"}


# -- the database and its migrations -----------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_store: Store, root: Path) -> None:
    with sqlite3.connect(db_file(root)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()
    from sqlalchemy import text

    with sqlite_store._db.read() as session:
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_head_is_the_newest_migration_and_the_models_match_it(root: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from jupyter_mlops.store.models import Base

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
    Store.for_root(root).close()
    db = Database(f"sqlite:///{db_file(root)}")
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        db.dispose()


def test_opening_a_current_store_does_not_migrate_again(root: Path) -> None:
    Store.for_root(root).close()
    db = Database(f"sqlite:///{db_file(root)}")
    try:
        assert current_revision(db) == HEAD
        assert ensure_schema(db) is False
        assert upgrade(db) is False  # even under the lock, it re-checks first
    finally:
        db.dispose()


def test_a_store_newer_than_this_code_is_refused(root: Path) -> None:
    Store.for_root(root).close()
    with sqlite3.connect(db_file(root)) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()
    with pytest.raises(StoreError, match="revision 9999, which this jupyter_mlops does not know"):
        Store.for_root(root)


_OPEN = """
import sys, time
from jupyter_mlops.store import Store
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
store = Store.for_root(sys.argv[1])
run, _ = store.create_run(notebook="nb.ipynb", parameters={})
store.close()
"""


def test_processes_opening_a_new_store_at_once_migrate_it_once(root: Path) -> None:
    import time

    start = str(time.time() + 1.0)  # all of them open at the same moment
    workers = [
        subprocess.Popen([sys.executable, "-c", _OPEN, str(root), start], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr.decode()
    with Store.for_root(root) as store:
        assert len(store.list_runs().runs) == 4
    with sqlite3.connect(db_file(root)) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
    connection.close()


def test_a_store_at_revision_0001_is_upgraded_with_its_data(root: Path) -> None:
    # Given a store made by the first release, with a run, metrics and an artifact in it
    db_file(root).parent.mkdir(parents=True)
    db = Database(f"sqlite:///{db_file(root)}")
    try:
        upgrade(db, "0001")
        assert current_revision(db) == "0001"
    finally:
        db.dispose()
    run_id = uuid.uuid4().hex
    with sqlite3.connect(db_file(root)) as connection:
        connection.execute(
            "INSERT INTO runs (id, notebook, function, parameters, status, created_at, "
            "executor, inputs) VALUES (?, 'old.ipynb', 'train', '{\"a\": 1}', 'succeeded', "
            "'2024-01-01 00:00:00.000000', 'local', '{}')",
            (run_id,),
        )
        connection.execute("INSERT INTO metrics VALUES (?, 'accuracy', 0.5)", (run_id,))
        connection.execute(
            "INSERT INTO artifacts VALUES ('ab' || ?, ?, 'train/model', 'model', ?, 3, "
            "'2024-01-01 00:00:01.000000')",
            ("0" * 30, run_id, SHA_A),
        )
    connection.close()
    # When this release opens it
    with Store.for_root(root) as store:
        # Then it is at head, and the old run is there, whole, and sortable by its metric
        run = store.get_run(run_id[:6])
        assert run.parameters == {"a": 1}
        assert run.metrics == {"accuracy": 0.5}
        assert run.created_at.isoformat() == "2024-01-01T00:00:00+00:00"
        assert [a.name for a in run.artifacts] == ["train/model"]
        page = store.list_runs(function="train", status="succeeded", order_by="metric:accuracy")
        assert [r.id for r in page.runs] == [run_id]
    with sqlite3.connect(db_file(root)) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert "ix_metrics_name_value_run_id" in indexes


def test_records_are_frozen(store: Store) -> None:
    run = new_run(store)
    with pytest.raises(AttributeError):
        run.status = "succeeded"  # type: ignore[misc]


def test_a_store_that_has_grown_gets_fresh_statistics_on_open(root: Path) -> None:
    # Given a store analyzed while empty, then filled with 3,000 runs behind its back
    Store.for_root(root).close()
    rows = [
        (uuid.uuid4().hex, f"f{i % 5}", "succeeded", f"2024-01-01 00:00:{i % 60:02d}.{i:06d}")
        for i in range(3000)
    ]
    with sqlite3.connect(db_file(root)) as connection:
        connection.executemany(
            "INSERT INTO runs (id, notebook, function, parameters, status, created_at, executor, "
            "inputs) VALUES (?, 'nb.ipynb', ?, '{}', ?, ?, 'local', '{}')",
            rows,
        )
        connection.executemany(
            "INSERT INTO metrics VALUES (?, 'accuracy', ?)",
            [(run_id, index / 3000) for index, (run_id, *_) in enumerate(rows)],
        )
    connection.close()
    # When it is opened, ANALYZE runs; the sorted, filtered page walks the metric index
    with Store.for_root(root) as store:
        page = store.list_runs(function="f1", status="succeeded", order_by="metric:accuracy")
        values = [r.metrics["accuracy"] for r in page.runs]
        assert len(values) == 50
        assert values == sorted(values, reverse=True)
    with sqlite3.connect(db_file(root)) as connection:
        (stat,) = connection.execute(
            "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_metrics_name_value_run_id'"
        ).fetchone()
    connection.close()
    assert stat.split()[0] == "3000"

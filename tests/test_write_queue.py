"""One process's writers of a SQLite store take turns on a lock before SQLite's own.

Real SQLite files, real threads, a real ``fork()``. SQLite's busy handler sleeps between
retries; in-process writers now queue instead. What must hold: every write lands, with no
"database is locked"; a writer holding the lock longer than the busy timeout still ends in
SQLite's own error, not a hang; a forked child is never stuck on a lock a thread of its
parent held at the fork.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from jupyter_mlops.store import Store, database
from jupyter_mlops.store.database import Database


def test_two_threads_recording_runs_at_once_lose_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'mlops.db'}", artifacts_dir=tmp_path / "artifacts")

    def record(index: int) -> str:
        run, _created = store.create_run(notebook="nb.ipynb", parameters={"i": index})
        store.start_run(run.id)
        store.log_metrics(run.id, {"i": float(index)})
        return store.finish_run(run.id, "succeeded").id

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(record, range(120)))
    runs = [store.get_run(run_id) for run_id in ids]
    assert [run.metrics["i"] for run in runs] == [float(i) for i in range(120)]
    assert {run.status for run in runs} == {"succeeded"}


def test_a_writer_waits_its_turn_in_the_process_and_goes_once_the_first_commits(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    with db.write() as session:
        session.execute(text("CREATE TABLE t (v INTEGER)"))
    holding = threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.write() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            time.sleep(0.3)
            order.append("first commits")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(5)
    with db.write() as session:
        order.append("second begins")
        session.execute(text("INSERT INTO t VALUES (2)"))
    thread.join()
    assert order == ["first commits", "second begins"]
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 2


def test_a_lock_held_past_the_busy_timeout_ends_in_sqlites_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 1)
    db = Database(f"sqlite:///{tmp_path / 'slow.db'}")
    with db.write() as session:
        session.execute(text("CREATE TABLE t (v INTEGER)"))
    holding, done = threading.Event(), threading.Event()

    def hog() -> None:
        with db.write() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            done.wait(30)

    thread = threading.Thread(target=hog)
    thread.start()
    holding.wait(5)
    started = time.monotonic()
    try:
        with pytest.raises(Exception, match="locked"), db.write() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        done.set()
        thread.join()
    assert time.monotonic() - started < 20


def test_a_forked_child_writes_though_a_parent_thread_held_the_lock_at_the_fork(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fork.db"
    db = Database(f"sqlite:///{path}")
    with db.write() as session:
        session.execute(text("CREATE TABLE t (v INTEGER)"))
    queue = db._write_queue()
    assert queue is not None
    held, release = threading.Event(), threading.Event()

    def holder() -> None:  # holds the process's turn, outside any SQLite transaction
        with queue:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: its own connection, its own (fresh) queue
        code = 1
        try:
            child_db = Database(f"sqlite:///{path}")
            with child_db.write() as session:
                session.execute(text("INSERT INTO t VALUES (7)"))
            code = 0
        finally:
            os._exit(code)
    try:
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child waited on its parent's lock")
    finally:
        release.set()
        thread.join()
    assert os.waitstatus_to_exitcode(status) == 0
    with db.read() as session:
        assert session.execute(text("SELECT v FROM t")).scalar() == 7

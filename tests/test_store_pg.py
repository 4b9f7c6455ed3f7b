"""The store on a real PostgreSQL (tests/postgres.py): pools, the missing driver, indexes.

Connections are counted in ``pg_stat_activity`` from a separate connection to another
database, so the counter never counts itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres import PostgresCluster
from sqlalchemy import text
from sqlalchemy.engine import make_url

from jupyter_mlops.store import Store
from jupyter_mlops.store.database import MAX_OVERFLOW, POOL_SIZE

REPO = Path(__file__).resolve().parent.parent


def connections_to(cluster: PostgresCluster, url: str) -> Callable[[], int]:
    """A function counting the server processes connected to ``url``'s database now."""
    import psycopg

    database = make_url(url).database
    monitor = psycopg.connect(host=str(cluster.socket), user="postgres", dbname="postgres")
    monitor.autocommit = True

    def count() -> int:
        row = monitor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    count.close = monitor.close  # type: ignore[attr-defined]
    return count


@pytest.fixture
def counter(postgres_cluster: PostgresCluster, postgres_url: str) -> Iterator[Callable[[], int]]:
    count = connections_to(postgres_cluster, postgres_url)
    yield count
    count.close()  # type: ignore[attr-defined]


def settles(count: Callable[[], int], expected: int, seconds: float = 20) -> int:
    """The count once it reaches ``expected`` (a closed connection's server process takes a
    moment to leave ``pg_stat_activity``), or the last one seen after ``seconds``."""
    deadline = time.monotonic() + seconds
    seen = count()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = count()
    return seen


class Peak:
    """Samples a count in a thread every few milliseconds; ``highest`` is the most seen."""

    def __init__(self, count: Callable[[], int]) -> None:
        self.highest = 0
        self._count = count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.highest = max(self.highest, self._count())
            time.sleep(0.005)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# -- pools -------------------------------------------------------------------------------------


def test_a_long_lived_process_never_opens_more_than_its_bounded_pool(
    postgres_url: str, counter: Callable[[], int], tmp_path: Path
) -> None:
    limit = POOL_SIZE + MAX_OVERFLOW
    with Store(postgres_url, tmp_path / "artifacts", pooled=True) as store:
        errors: list[BaseException] = []

        def hold() -> None:  # each thread keeps a connection busy for a while
            try:
                with store._db.read() as session:
                    session.execute(text("SELECT pg_sleep(0.3)"))
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=hold) for _ in range(limit * 3)]
        with Peak(counter) as peak:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        assert errors == []
        assert not any(thread.is_alive() for thread in threads)
        assert limit // 2 < peak.highest <= limit  # used, and bounded: the rest waited
        assert settles(counter, POOL_SIZE) <= POOL_SIZE  # the overflow closes when returned
        store.list_runs()  # pre-pinged connections from the pool still work
    assert settles(counter, 0) == 0  # close() disposes of the pool


def test_a_short_lived_process_holds_no_connection_between_calls(
    postgres_url: str, counter: Callable[[], int], tmp_path: Path
) -> None:
    with Store(postgres_url, tmp_path / "artifacts", pooled=False) as store:
        run, _ = store.create_run(notebook="nb.ipynb", parameters={"a": 1})
        store.log_metrics(run.id, {"loss": 0.5})
        assert store.list_runs().runs[0].id == run.id
        assert settles(counter, 0) == 0
    with Store(postgres_url, tmp_path / "artifacts", pooled=True) as store:
        store.list_runs()
        assert counter() >= 1  # a pooled one keeps its connection for the next call


CLI_THEN_COUNT = """
import json, sys
import psycopg
from jupyter_mlops.cli import main

socket, database, root = sys.argv[1:4]

def count():
    with psycopg.connect(host=socket, user="postgres", dbname="postgres") as monitor:
        return monitor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()[0]

code = main(["--root", root, "runs", "--json"])
print(json.dumps({"code": code, "connections": count()}), file=sys.stderr)
"""


def test_the_cli_holds_no_idle_connection_after_a_command_returns(
    postgres_cluster: PostgresCluster, postgres_url: str, tmp_path: Path
) -> None:
    config = {"MLOps": {"store_url": postgres_url}}
    (tmp_path / "jupyter_mlops_config.json").write_text(json.dumps(config), encoding="utf-8")
    with Store(postgres_url, tmp_path / "artifacts") as store:
        store.create_run(notebook="nb.ipynb", parameters={})
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CLI_THEN_COUNT), str(postgres_cluster.socket),
         str(make_url(postgres_url).database), str(tmp_path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["runs"]) == 1  # the CLI did read the store
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "connections": 0}


# -- the missing driver ------------------------------------------------------------------------

BLOCK_PSYCOPG = """
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Blocked())
"""


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "postgresql"])
def test_a_postgres_url_without_psycopg_says_which_extra_to_install(
    tmp_path: Path, scheme: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_PSYCOPG, encoding="utf-8")
    url = f"{scheme}://mlops@db.internal/mlops"
    (tmp_path / "jupyter_mlops_config.json").write_text(
        json.dumps({"MLOps": {"store_url": url}}), encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(tmp_path), "runs"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO)])},
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert lines[0].startswith("error: the store postgresql+psycopg://mlops@db.internal/mlops")
    assert "needs the psycopg driver" in lines[0]
    assert "pip install 'jupyter-mlops[postgres]'" in lines[0]


# -- the server's pool -------------------------------------------------------------------------


@pytest.fixture
def jp_server_config(postgres_url: str) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MLOps": {"store_url": postgres_url},
    }


async def test_the_servers_pool_is_bounded_under_concurrent_requests(
    jp_fetch: Any, counter: Callable[[], int]
) -> None:
    first = await jp_fetch("mlops", "api", "runs", method="GET")  # opens the store
    assert first.code == 200
    with Peak(counter) as peak:
        replies = await asyncio.gather(
            *(jp_fetch("mlops", "api", "runs", method="GET") for _ in range(60))
        )
    assert [reply.code for reply in replies] == [200] * 60
    assert 1 <= peak.highest <= POOL_SIZE + MAX_OVERFLOW


# -- a kernel's %mlops -------------------------------------------------------------------------


@pytest.mark.kernel
def test_mlops_in_a_kernel_holds_no_connection_while_the_kernel_idles(
    postgres_url: str, counter: Callable[[], int], tmp_path: Path
) -> None:
    from jupyter_client.manager import start_new_kernel

    config = {"MLOps": {"store_url": postgres_url}}
    (tmp_path / "jupyter_mlops_config.json").write_text(json.dumps(config), encoding="utf-8")
    with Store(postgres_url, tmp_path / "artifacts") as store:
        run, _ = store.create_run(notebook="nb.ipynb", parameters={})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    manager, client = start_new_kernel(
        kernel_name="python3", cwd=str(tmp_path), env=env, startup_timeout=60
    )
    try:
        code = "%load_ext jupyter_mlops\nfound = %mlops runs --all\nprint(found[0].id)"
        printed: list[str] = []

        def output(message: dict[str, Any]) -> None:
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])

        reply = client.execute_interactive(code, timeout=120, output_hook=output)
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "".join(printed).strip() == run.id  # the magic did read the store
        assert settles(counter, 0) == 0  # and keeps no connection while the kernel waits
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


# -- a database server that goes away -----------------------------------------------------------


def test_an_unreachable_server_is_one_error_line_with_the_password_hidden(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://mlops:s3cret@/mlops?host={tmp_path / 'no-server'}"
    (tmp_path / "jupyter_mlops_config.json").write_text(
        json.dumps({"MLOps": {"store_url": url}}), encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(tmp_path), "runs"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: the store postgresql+psycopg://mlops:***@/mlops")
    assert "s3cret" not in done.stderr
    assert "check that the database server is running and reachable from here" in lines[0]

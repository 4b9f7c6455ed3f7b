"""A PostgreSQL server that stops and comes back, under a store and under the REST API.

Each test module gets its own throw-away cluster (tests/postgres.py), since these tests stop
it. It is stopped cleanly (``-m fast``: it runs with fsync and synchronous_commit off) and
started again from settings written with ``ALTER SYSTEM`` (its Unix socket, no TCP), since
``pg_ctl start`` does not repeat the first start's ``-o`` options.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres import PostgresCluster, _bin, running_cluster

from jupyter_mlops.errors import StoreUnavailableError
from jupyter_mlops.store import Store


class Outage:
    """Stop and start one cluster."""

    def __init__(self, cluster: PostgresCluster) -> None:
        import psycopg

        self.cluster = cluster
        self.pg_ctl = _bin("pg_ctl")
        assert self.pg_ctl is not None
        with psycopg.connect(host=str(cluster.socket), user="postgres", dbname="postgres") as c:
            c.autocommit = True
            c.execute(f"ALTER SYSTEM SET unix_socket_directories = '{cluster.socket}'")
            c.execute("ALTER SYSTEM SET listen_addresses = ''")

    def stop(self) -> None:
        assert self.pg_ctl is not None
        data = str(self.cluster.data)
        done = self.cluster._run(self.pg_ctl, "-D", data, "-m", "fast", "-w", "stop")
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        assert self.pg_ctl is not None
        data, log = str(self.cluster.data), str(self.cluster.log)
        done = self.cluster._run(self.pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "start")
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def outage() -> Iterator[Outage]:
    with running_cluster() as cluster:
        yield Outage(cluster)


def test_a_store_is_unavailable_while_its_server_is_down_then_used_again(
    outage: Outage, tmp_path: Path
) -> None:
    url = outage.cluster.create_database("outage")
    with Store(url, tmp_path / "artifacts", pooled=True) as store:
        run, _ = store.create_run(notebook="nb.ipynb", parameters={})
        outage.stop()
        try:
            with pytest.raises(StoreUnavailableError) as read:
                store.get_run(run.id)
            message = str(read.value)
            assert "\n" not in message
            assert "cannot be read" in message or "cannot be written" in message
            assert "database server is running" in message
            with pytest.raises(StoreUnavailableError, match="cannot be written"):
                store.create_run(notebook="nb.ipynb", parameters={})
        finally:
            outage.start()
        assert store.get_run(run.id).id == run.id  # the pool dropped its dead connections
        assert len(store.list_runs().runs) == 1


@pytest.fixture
def jp_server_config(outage: Outage) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MLOps": {"store_url": outage.cluster.create_database("served")},
    }


async def test_the_rest_api_answers_503_while_the_server_is_down_then_200(
    jp_fetch: Any, outage: Outage
) -> None:
    async def runs() -> tuple[int, Any]:
        reply = await jp_fetch("mlops", "api", "runs", method="GET", raise_error=False)
        return reply.code, json.loads(reply.body)

    assert (await runs())[0] == 200
    outage.stop()
    try:
        status, body = await runs()
        assert status == 503, body
        assert "database server is running" in json.dumps(body)
    finally:
        outage.start()
    status, body = await runs()
    assert status == 200, body
    assert body["runs"] == []

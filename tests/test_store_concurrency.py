"""Many writers on one PostgreSQL store at once: nothing lost, nothing recorded twice.

Real processes only: writer processes that use the store's API, real ``jupyter mlops`` CLI
processes, two real Jupyter servers with the extension, and a sweep on a Dask LocalCluster,
all on one throw-away PostgreSQL (tests/postgres.py). What is checked afterwards is what a
read-then-write would break: alias moves each recorded once with an unbroken ``previous``
chain, a deployment's generation counting every redeploy, versions created by several
writers at once existing once, and every idempotency key naming one run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from jupyter_mlops.store import Store

WRITERS = 4
MOVES = 15  # alias moves per writer, each to a version of its own
KEYS = 10  # idempotency keys every writer tries

# One writer process: waits for the start file, then hammers the store through its API.
WRITER = textwrap.dedent(
    """
    import hashlib, json, os, sys, time
    from pathlib import Path
    from jupyter_mlops.store import Store

    url, artifacts, start, number, moves, keys = sys.argv[1:7]
    number, moves, keys = int(number), int(moves), int(keys)
    store = Store(url, artifacts)
    while not Path(start).exists():
        time.sleep(0.01)
    shared = [hashlib.sha256(f"shared {i}".encode()).hexdigest() for i in range(5)]
    mine = [hashlib.sha256(f"writer {number} move {i}".encode()).hexdigest() for i in range(moves)]
    runs = {}
    for i in range(moves):
        for version in shared:  # every writer creates the same versions at once
            store.register_version("f", version, notebook="nb", code="shared")
        store.register_version("f", mine[i], notebook="nb", code=f"{number} {i}")
        store.set_alias("f", mine[i], "production", actor=f"writer{number}")
        store.deployments.want("d", new_generation=True)
        if i < keys:
            run, _ = store.create_run(
                notebook="nb", function="f", parameters={"i": i},
                idempotency_key=f"key-{i}", status="running",
            )
            runs[f"key-{i}"] = run.id
    print(json.dumps(runs))
    """
)


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def writer_processes(url: str, tmp_path: Path) -> list[dict[str, str]]:
    start = tmp_path / "start"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                url,
                str(tmp_path / "artifacts"),
                str(start),
                str(number),
                str(MOVES),
                str(KEYS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for number in range(WRITERS)
    ]
    time.sleep(0.5)
    start.touch()  # all at once, once every process has opened the store
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def prepare(url: str, tmp_path: Path) -> None:
    with Store(url, tmp_path / "artifacts") as store:
        store.register_version("f", sha("first"), notebook="nb", code="first")
        store.set_alias("f", sha("first"), "production")
        store.deployments.create(
            name="d",
            notebook="nb",
            notebook_path="/nb.ipynb",
            function="f",
            version=sha("first"),
            host="127.0.0.1",
            port=1,
            token_sha256=sha("token"),
            binding=[],
            options={},
        )


def check_moves(store: Store, writers: int, moves: int, before: int = 1) -> None:
    """Every move once, each one's ``previous`` the version the one before it set."""
    history = store.alias_history("f", "production")
    assert len(history) == before + writers * moves
    for earlier, later in itertools.pairwise(history):
        assert later.previous == earlier.version, (earlier, later)
    assert len({move.version for move in history}) == len(history)
    assert store.get_version("f", "production").version == history[-1].version


def test_concurrent_writers_lose_no_alias_move_generation_version_or_run(
    postgres_url: str, tmp_path: Path
) -> None:
    prepare(postgres_url, tmp_path)
    results = writer_processes(postgres_url, tmp_path)
    with Store(postgres_url, tmp_path / "artifacts") as store:
        check_moves(store, WRITERS, MOVES)
        assert store.deployments.get("d").generation == 1 + WRITERS * MOVES
        versions = store.list_versions("f")
        assert len(versions) == 1 + 5 + WRITERS * MOVES
        assert len({v.version for v in versions}) == len(versions)
        # Each key is one run, and every writer was handed that run.
        assert all(result == results[0] for result in results)
        page = store.list_runs(limit=1000)
        assert len(page.runs) == KEYS
        assert {run.idempotency_key for run in page.runs} == set(results[0])

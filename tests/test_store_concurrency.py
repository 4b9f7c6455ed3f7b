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
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import make_notebook

from jupyter_mlops.project import PROJECT_ENV
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


# -- the whole team at once: two servers, four CLI runs, a Dask sweep, alias movers --------

NOTEBOOK = make_notebook(
    ("x: float = 1.0", "parameters"),
    ("y = x * 2", "mlops:fn:train"),
)
SERVERS = 2
CLI_RUNS = 4
REST_KEYS = 2  # each sent to both servers at once
SWEEP = (1.0, 2.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env(tmp_path: Path) -> dict[str, str]:
    """What every child sees: only its own Jupyter config, and this checkout on the path."""
    drop = {"JUPYTER_CONFIG_PATH", PROJECT_ENV, "JPY_SESSION_NAME", "MPLBACKEND"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}


def start_server(root: Path, tmp_path: Path, number: int, url: str) -> tuple[Any, str]:
    port = free_port()
    others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
    config = tmp_path / f"server{number}.json"
    config.write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {**dict.fromkeys(others, False),
                                              "jupyter_mlops": True}},
        "MLOps": {"store_url": url},
        "MLOpsExtension": {"supervise_interval": 0},
    }))  # fmt: skip
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
               "--IdentityProvider.token=secret", f"--ServerApp.root_dir={root}",
               f"--config={config}", "--allow-root"]  # fmt: skip
    env = {**child_env(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / f"runtime{number}")}
    with (tmp_path / f"server{number}.log").open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return server, f"http://127.0.0.1:{port}"


def wait_ready(server: Any, base: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token=secret", timeout=2).close()
            return
        except OSError:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)


def call(base: str, method: str, path: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base}/mlops/api{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "token secret"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_two_servers_four_cli_runs_a_dask_sweep_and_alias_movers_on_one_store(
    postgres_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    config = {"MLOps": {"store_url": postgres_url}}  # the project's own config: the CLI's
    (root / "jupyter_mlops_config.json").write_text(json.dumps(config), encoding="utf-8")
    (tmp_path / "jupyter-config").mkdir()
    prepare(postgres_url, tmp_path)
    env = child_env(tmp_path)
    servers = [start_server(root, tmp_path, n, postgres_url) for n in range(SERVERS)]
    processes: list[subprocess.Popen[str]] = []
    try:
        for number, (server, base) in enumerate(servers):
            wait_ready(server, base, tmp_path / f"server{number}.log")
        start = tmp_path / "start"
        cli = [sys.executable, "-m", "jupyter_mlops.cli"]
        for number in range(CLI_RUNS):
            words = ["run", "nb.ipynb", "-f", "train", "-p", f"x={10 + number}",
                     "--idempotency-key", f"cli-{number}", "--json"]  # fmt: skip
            processes.append(subprocess.Popen(
                [*cli, *words], cwd=root, env=env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ))  # fmt: skip
        sweep_values = ",".join(str(x) for x in SWEEP)
        processes.append(subprocess.Popen(
            [*cli, "sweep", "nb.ipynb", "-f", "train", "-p", "x", sweep_values,
             "--executor", "dask", "--json"],
            cwd=root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ))  # fmt: skip
        for number in range(2):  # alias movers through the store API
            processes.append(subprocess.Popen(
                [sys.executable, "-c", WRITER, postgres_url, str(tmp_path / "artifacts"),
                 str(start), str(100 + number), "10", "0"],
                env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ))  # fmt: skip
        start.touch()
        # The same idempotency key to both servers at once, for each key.
        with ThreadPoolExecutor(SERVERS * REST_KEYS) as pool:
            answers = list(pool.map(
                lambda job: call(job[1], "POST", "/runs", {
                    "path": "nb.ipynb", "function": "train",
                    "parameters": {"x": str(20 + job[0])}, "idempotency_key": f"rest-{job[0]}",
                }),
                [(key, base) for key in range(REST_KEYS) for _, base in servers],
            ))  # fmt: skip
        assert all(status == 202 for status, _ in answers), answers
        rest_ids = {answer["idempotency_key"]: answer["id"] for _, answer in answers}
        for _, answer in answers:  # both servers answered with the same run
            assert rest_ids[answer["idempotency_key"]] == answer["id"]
        outputs = [proc.communicate(timeout=300) for proc in processes]
        for proc, (_out, err) in zip(processes, outputs, strict=True):
            assert proc.returncode == 0, err
        cli_runs = [json.loads(out) for out, _ in outputs[:CLI_RUNS]]
        assert all(run["status"] == "succeeded" for run in cli_runs), cli_runs
        sweep = json.loads(outputs[CLI_RUNS][0])
        deadline = time.monotonic() + 240
        with Store(postgres_url, tmp_path / "artifacts") as store:
            while store.list_runs(status="running").runs or store.list_runs(status="queued").runs:
                assert time.monotonic() < deadline, "the servers' runs did not finish"
                time.sleep(0.5)
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
        for server, _ in servers:
            server.terminate()
        for server, _ in servers:
            server.wait(timeout=60)

    with Store(postgres_url, tmp_path / "artifacts") as store:
        runs = store.list_runs(limit=1000, function="train").runs
        assert len(runs) == CLI_RUNS + REST_KEYS + len(SWEEP)  # every run exactly once
        assert all(run.status == "succeeded" for run in runs), [r.to_dict() for r in runs]
        keys = [run.idempotency_key for run in runs if run.idempotency_key]
        assert sorted(keys) == sorted(
            [f"cli-{n}" for n in range(CLI_RUNS)] + [f"rest-{n}" for n in range(REST_KEYS)]
        )
        assert {r.id for r in runs if r.idempotency_key in rest_ids} == set(rest_ids.values())
        assert sorted(float(r.parameters["x"]) for r in runs if r.sweep_id) == list(SWEEP)
        assert {r.sweep_id for r in runs if r.sweep_id} == {sweep["sweep"]["id"]}
        assert {r.executor for r in runs if r.sweep_id} == {"dask"}
        # One version of train, created by eight writers at once, counting all its runs.
        versions = store.list_versions("train")
        assert len(versions) == 1
        assert versions[0].run_count == len(runs)
        check_moves(store, 2, 10)


CREATOR = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from jupyter_mlops.errors import ConflictError
    from jupyter_mlops.store import Store

    url, artifacts, start, names = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = Store(url, artifacts)
    while not Path(start).exists():
        time.sleep(0.005)
    created, refused = [], []
    for i in range(names):
        try:
            store.deployments.create(
                name=f"dep-{i}", notebook="nb", notebook_path="/nb.ipynb", function="f",
                version="a" * 64, host="127.0.0.1", port=1, token_sha256="b" * 64,
                binding=[], options={},
            )
            created.append(i)
        except ConflictError:
            refused.append(i)
    print(json.dumps({"created": created, "refused": refused}))
    """
)


def test_deployments_created_at_once_under_one_name_one_wins_the_others_conflict(
    postgres_url: str, tmp_path: Path
) -> None:
    """Each writer gets the deployment or a ConflictError (409), never a database error."""
    names = 30
    with Store(postgres_url, tmp_path / "artifacts"):
        pass  # migrated before the race
    start = tmp_path / "start"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, postgres_url, str(tmp_path), str(start), str(names)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    time.sleep(1.0)
    start.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    created = sorted(i for result in results for i in result["created"])
    assert created == list(range(names))  # each name once
    assert all(len(r["created"]) + len(r["refused"]) == names for r in results)

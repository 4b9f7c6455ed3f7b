"""Runs and sweeps on Dask, against real processes.

A real ``dask scheduler`` on 127.0.0.1 and real ``dask worker`` processes (no nanny, one
thread each), every worker started with its cwd and ``--local-directory`` in its own empty
folder; the project (notebook, store, a marker file) lives in a folder the test never tells
the workers about. The CLI runs as a real process (``python -m jupyter_mlops.cli``), the
kernels are real, the store is a real SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook

from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel
pytest.importorskip("distributed")

NOTEBOOK = make_notebook(
    ("x: float = 1.0\npause: float = 0.0", "parameters"),
    (
        "import os, time\n"
        "if x >= 100:\n    raise ValueError('x is too large')\n"
        "time.sleep(pause)\n"
        "y = x * x\n"
        "sees_project = float(os.path.exists('marker.txt'))\n"
        "print('cwd', os.getcwd())",
        ["mlops:fn:square", "mlops:gpu:1"],
    ),
    ("y\nsees_project", "mlops:metrics"),
)
TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A scheduler and workers, each a process of its own in its own folder."""

    def __init__(self, base: Path, workers: int, resources: dict[str, str] | None = None) -> None:
        self.base = base
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.folders: dict[str, Path] = {}
        self.scheduler = self._start(
            "scheduler",
            ["scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1]],
        )
        self.workers = []
        for index in range(workers):
            name = f"w{index}"
            folder = base / name
            folder.mkdir()
            self.folders[name] = folder
            process = self._start(
                name,
                [
                    "worker",
                    self.address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    name,
                    "--local-directory",
                    str(folder),
                    *(["--resources", resources[name]] if name in (resources or {}) else []),
                ],
                cwd=folder,
            )
            self.workers.append(process)
        self._wait_for_workers(workers)

    def _start(self, name: str, words: list[str], cwd: Path | None = None) -> Any:
        with open(self.base / f"{name}.log", "wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_" + words[0], *words[1:]],
                cwd=cwd or self.base,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def _wait_for_workers(self, count: int) -> None:
        from distributed import Client

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with Client(self.address, timeout=10) as client:
                    client.wait_for_workers(count, timeout=60)
                    self.worker_addresses = {
                        info["name"]: address
                        for address, info in client.scheduler_info()["workers"].items()
                    }
                    return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"the cluster did not start: see {self.base}/*.log")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(30)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    started: list[Cluster] = []

    def start(workers: int = 2, resources: dict[str, str] | None = None) -> Cluster:
        base = tmp_path / f"cluster{len(started)}"
        base.mkdir()
        started.append(Cluster(base, workers, resources))
        return started[-1]

    yield start
    for one in started:
        one.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (folder / "marker.txt").write_text("only the submitting side has this file\n")
    return folder


def _cli(project: Path, *words: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", *words],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        **options,
    )


def _service(project: Path) -> MLOps:
    return MLOps(root_dir=str(project))


def _by_x(runs: list[Any]) -> dict[float, Any]:
    return {float(run.parameters["x"]): run for run in runs}


def _cwds_under(folder: Path) -> list[int]:
    """Processes whose working directory is inside ``folder`` (kernels left behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(folder)) and "mlops-run-" in cwd:
            found.append(int(entry.name))
    return found


def test_a_sweep_on_workers_in_their_own_folders_matches_local(
    cluster: Callable[..., Cluster], project: Path
) -> None:
    dask = cluster(2, {"w1": "GPU=1"})  # mlops:gpu:1 places every run on w1
    done = _cli(
        project, "sweep", "nb.ipynb", "-p", "x", "1,2,3,4", "--parallel", "2",
        "--executor", "dask", "--scheduler", dask.address, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    local = _cli(project, "sweep", "nb.ipynb", "-p", "x", "1,2,3,4", "--json")
    assert local.returncode == 0, local.stderr
    service = _service(project)
    remote_sweep = json.loads(done.stdout)["sweep"]["id"]
    local_sweep = json.loads(local.stdout)["sweep"]["id"]
    remote = _by_x(service.runs(sweep=remote_sweep).runs)
    here = _by_x(service.runs(sweep=local_sweep).runs)
    assert sorted(remote) == sorted(here) == [1.0, 2.0, 3.0, 4.0]
    for x, run in remote.items():
        assert run.status == "succeeded"
        assert run.executor == "dask"
        assert run.worker == dask.worker_addresses["w1"]
        assert run.metrics["y"] == here[x].metrics["y"] == x * x
        # the worker never saw the project folder; a local run does
        assert run.metrics["sees_project"] == 0.0
        assert here[x].metrics["sees_project"] == 1.0
        assert here[x].executor == "local"
        assert here[x].worker is None
        output = service.store.artifact_path(run.output_notebook or "").read_text()
        assert any(f"cwd {folder}" in output for folder in dask.folders.values()), output
        assert str(project) not in output
        assert {a.name for a in run.artifacts} == {a.name for a in here[x].artifacts}


def test_a_worker_killed_mid_sweep_fails_its_run_and_every_other_run_is_recorded_once(
    cluster: Callable[[int], Cluster], project: Path
) -> None:
    dask = cluster(2)
    victim = dask.worker_addresses["w0"]
    sweep = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_mlops.cli", "sweep", "nb.ipynb",
            "-p", "x", "1,2,3,4,5,6", "-p", "pause", "3", "--parallel", "2",
            "--executor", "dask", "--scheduler", dask.address, "--json",
        ],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    service = _service(project)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        running = [r for r in service.runs(status="running").runs if r.worker == victim]
        if running:
            break
        time.sleep(0.2)
    else:
        sweep.kill()
        raise AssertionError("no run started on the first worker")
    time.sleep(1.0)  # its kernel is running the pause
    dask.workers[0].send_signal(signal.SIGKILL)
    stdout, _stderr = sweep.communicate(timeout=TIMEOUT)
    result = json.loads(stdout)
    runs = service.runs(sweep=result["sweep"]["id"]).runs
    assert len(runs) == 6
    assert len({r.id for r in runs}) == 6
    by_x = _by_x(runs)
    assert sorted(by_x) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    lost = [r for r in runs if r.status == "failed"]
    assert lost, [(r.status, r.error) for r in runs]
    assert all("worker lost" in (r.error or {}).get("evalue", "") for r in lost)
    assert all(r.status in ("succeeded", "failed") for r in runs)
    for run in runs:
        if run.status == "succeeded":
            assert run.metrics["y"] == float(run.parameters["x"]) ** 2
            assert run.worker == dask.worker_addresses["w1"]
    assert result["sweep"]["status"] == "failed"
    deadline = time.monotonic() + 30
    while _cwds_under(dask.folders["w0"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _cwds_under(dask.folders["w0"]) == []  # the lost worker's kernel is gone too


def test_with_retries_a_run_whose_worker_was_lost_runs_again_on_another_worker(
    cluster: Callable[[int], Cluster], project: Path
) -> None:
    dask = cluster(2)
    sweep = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_mlops.cli", "sweep", "nb.ipynb",
            "-p", "x", "1,2", "-p", "pause", "3", "--parallel", "2",
            "--executor", "dask", "--scheduler", dask.address, "--retries", "1", "--json",
        ],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    service = _service(project)
    deadline = time.monotonic() + TIMEOUT
    victim = ""
    while not victim:
        assert time.monotonic() < deadline, "no run started on a worker"
        running = [r for r in service.runs(status="running").runs if r.worker]
        victim = running[0].worker if running else ""
        time.sleep(0.2)
    time.sleep(1.0)  # its kernel is running the pause
    name = next(n for n, address in dask.worker_addresses.items() if address == victim)
    dask.workers[int(name[1:])].send_signal(signal.SIGKILL)
    stdout, stderr = sweep.communicate(timeout=TIMEOUT)
    assert sweep.returncode == 0, stderr
    runs = service.runs(sweep=json.loads(stdout)["sweep"]["id"]).runs
    assert sorted(float(r.parameters["x"]) for r in runs) == [1.0, 2.0]  # each once
    survivor = next(a for a in dask.worker_addresses.values() if a != victim)
    for run in runs:
        assert run.status == "succeeded", run.error
        assert run.metrics["y"] == float(run.parameters["x"]) ** 2
        assert run.worker == survivor  # the lost attempt's worker is not what is recorded


def test_retries_are_an_option_of_the_dask_executor_only(project: Path) -> None:
    done = _cli(project, "run", "nb.ipynb", "--executor", "local", "--retries", "1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: --retries is an option of the dask executor; it does not apply to --executor local"
    )
    assert _service(project).runs().runs == []


def test_the_scheduler_killed_interrupts_unfinished_runs_with_a_clear_error(
    cluster: Callable[[int], Cluster], project: Path
) -> None:
    dask = cluster(1)
    sweep = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_mlops.cli", "sweep", "nb.ipynb",
            "-p", "x", "1,2,3", "-p", "pause", "30", "--parallel", "1",
            "--executor", "dask", "--scheduler", dask.address,
        ],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    service = _service(project)
    deadline = time.monotonic() + TIMEOUT
    while not [r for r in service.runs(status="running").runs if r.worker]:
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.2)
    dask.scheduler.send_signal(signal.SIGKILL)
    _, stderr = sweep.communicate(timeout=TIMEOUT)
    assert sweep.returncode == 2, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: lost the Dask scheduler at " + dask.address), stderr
    assert "3 unfinished run(s)" in last
    runs = service.runs().runs
    assert len(runs) == 3
    assert {r.status for r in runs} == {"interrupted"}
    assert all("scheduler" in (r.error or {}).get("evalue", "") for r in runs)


def test_ctrl_c_cancels_the_run_and_kills_its_kernel_on_the_worker(
    cluster: Callable[[int], Cluster], project: Path
) -> None:
    dask = cluster(1)
    run = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_mlops.cli", "run", "nb.ipynb",
            "-p", "pause", "120", "--executor", "dask", "--scheduler", dask.address,
        ],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while not _cwds_under(dask.folders["w0"]):
        assert time.monotonic() < deadline, "the kernel never started"
        assert run.poll() is None
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    run.communicate(timeout=TIMEOUT)
    recorded = _service(project).runs().runs
    assert [r.status for r in recorded] == ["cancelled"]
    assert recorded[0].worker == dask.worker_addresses["w0"]
    deadline = time.monotonic() + 30
    while _cwds_under(dask.folders["w0"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _cwds_under(dask.folders["w0"]) == []


def test_fail_fast_stops_the_sweep_and_the_kernels_running_on_the_workers(
    cluster: Callable[..., Cluster], project: Path
) -> None:
    dask = cluster(2)
    started = time.monotonic()
    done = _cli(
        project, "sweep", "nb.ipynb", "-p", "x", "100,1,2,3", "-p", "pause", "600",
        "--parallel", "2", "--fail-fast", "--scheduler", dask.address, "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - started < 200  # the 600 s pause was cut short (loaded machine)
    runs = _by_x(_service(project).runs().runs)
    assert runs[100.0].status == "failed"
    assert runs[100.0].error is not None
    assert runs[100.0].error["evalue"] == "x is too large"
    assert [runs[x].status for x in (1.0, 2.0, 3.0)] == ["cancelled"] * 3
    for folder in dask.folders.values():
        deadline = time.monotonic() + 30
        while _cwds_under(folder) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _cwds_under(folder) == []


def test_without_an_address_a_local_cluster_runs_it_and_stops_with_the_command(
    project: Path,
) -> None:
    done = _cli(project, "run", "nb.ipynb", "-p", "x", "3", "--executor", "dask", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded"
    assert run["executor"] == "dask"
    assert run["metrics"]["y"] == 9.0
    assert run["worker"].startswith("tcp://127.0.0.1:")
    assert "dashboard http://127.0.0.1:" in done.stderr
    # its workers declare no GPU: the tag is named, the run placed without it
    assert "no Dask worker declares the resource GPU (tag mlops:gpu)" in done.stderr


def test_an_unknown_executor_is_refused_naming_the_registered_ones(project: Path) -> None:
    done = _cli(project, "run", "nb.ipynb", "--executor", "slurm")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: no executor 'slurm' (executors: dask, kfp, local)"
    assert _service(project).runs().runs == []  # nothing recorded
    wrong = _cli(project, "run", "nb.ipynb", "--executor", "local", "--scheduler", "tcp://x:1")
    assert wrong.returncode == 2
    assert "--scheduler" in wrong.stderr


@pytest.fixture
def rest_cluster(cluster: Callable[..., Cluster]) -> Cluster:
    return cluster(1)


@pytest.fixture
def jp_server_config(jp_root_dir: Path, rest_cluster: Cluster) -> dict[str, Any]:
    (jp_root_dir / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MLOps": {"dask_address": rest_cluster.address},
    }


async def test_rest_runs_and_sweeps_take_an_executor_by_name(
    jp_fetch: Any, rest_cluster: Cluster
) -> None:
    import asyncio

    dask = rest_cluster

    async def post(route: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = await jp_fetch(
            "mlops", "api", route, method="POST", body=json.dumps(body), raise_error=False
        )
        return response.code, json.loads(response.body)

    status, error = await post("runs", {"path": "nb.ipynb", "executor": "slurm"})
    assert status == 400
    assert "no executor 'slurm'" in error["message"]
    assert "dask, kfp, local" in json.dumps(error)
    status, error = await post("sweeps", {"path": "nb.ipynb", "space": {"x": ["1"]}, "executor": 3})
    assert status == 400
    status, run = await post(
        "runs", {"path": "nb.ipynb", "parameters": {"x": "5"}, "executor": "dask"}
    )
    assert status == 202
    assert run["executor"] == "dask"
    deadline = time.monotonic() + TIMEOUT
    while run["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)
        response = await jp_fetch("mlops", "api", "runs", run["id"])
        run = json.loads(response.body)
    assert run["status"] == "succeeded", run
    assert run["worker"] == dask.worker_addresses["w0"]
    assert run["metrics"]["y"] == 25.0

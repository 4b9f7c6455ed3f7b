"""Deployments under attack: real keepers and serving processes on loopback, a real store.

Given a deployed function, when its keeper is killed with SIGKILL, a redeploy fails and the
old version then crashes, hundreds of clients trickle their headers, keep-alive clients
hammer it across a redeploy and a rollback, or another notebook takes its name, then nothing
is left serving unsupervised, nothing hangs, nobody else is locked out, no request is lost
and nothing is replaced by accident. Serving processes get no server secrets, and what the
product writes under ``.mlops`` is readable by its owner only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import make_notebook
from test_deploy import FAST, SCORE, call, wait_for

from jupyter_mlops.errors import ConflictError, MLOpsError
from jupyter_mlops.service import MLOps
from jupyter_mlops.store.deployment_records import Deployment

pytestmark = pytest.mark.kernel

OK = {"x": 1.0, "fail": False}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("faults")
    (root / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    service = MLOps(root_dir=str(root))
    try:
        assert service.run("score.ipynb").status == "succeeded"
        yield root
    finally:
        for deployment in service.deployments.every():
            with contextlib.suppress(ConflictError):
                service.deployments.stop(deployment.name)
        service.close()


@pytest.fixture
def service(project: Path) -> Iterator[MLOps]:
    service = MLOps(root_dir=str(project))
    yield service
    service.close()


def deploy(service: MLOps, name: str, **options: Any) -> tuple[Deployment, str]:
    deployment, token = service.deployments.deploy(
        "score.ipynb", "predict", name=name, options={**FAST, **options}
    )
    assert token is not None
    return deployment, token


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def serving_again(service: MLOps, name: str, before: Deployment) -> Deployment:
    """The deployment once a new serving process (not ``before``'s) reports running."""
    return wait_for(  # type: ignore[no-any-return]
        lambda: (
            (d := service.deployments.get(name)).status == "running"
            and d.serve_pid not in (None, before.serve_pid)
            and d
        ),
        60,
        f"{name} serving again",
    )


def test_a_killed_keeper_leaves_no_server_and_the_next_keeper_serves(service: MLOps) -> None:
    deployment, token = deploy(service, "orphan")
    assert deployment.serve_pid is not None
    assert deployment.keeper_pid is not None
    os.kill(deployment.keeper_pid, signal.SIGKILL)
    # the serving process sees its keeper gone and stops by itself
    wait_for(lambda: gone(deployment.serve_pid or 0), 20, "the orphan to stop")
    assert "orphan" in service.deployments.restore()
    back = serving_again(service, "orphan", deployment)
    assert back.port == deployment.port
    assert call(deployment.url, OK, token)[0] == 200


def test_a_server_left_by_a_killed_keeper_is_ended_by_the_next_keeper_and_by_undeploy(
    service: MLOps,
) -> None:
    deployment, token = deploy(service, "adopted")
    # Given a serving process that cannot react (stopped) when its keeper is killed
    os.kill(deployment.serve_pid or 0, signal.SIGSTOP)
    os.kill(deployment.keeper_pid or 0, signal.SIGKILL)
    time.sleep(0.5)
    assert not gone(deployment.serve_pid or 0)
    # When a new keeper comes (restore), it ends the leftover and serves on the same port
    assert "adopted" in service.deployments.restore()
    back = serving_again(service, "adopted", deployment)
    assert back.port == deployment.port
    assert gone(deployment.serve_pid or 0)
    assert call(deployment.url, OK, token)[0] == 200
    # And undeploy, with the keeper killed and its server stopped again, ends it too
    os.kill(back.serve_pid or 0, signal.SIGSTOP)
    os.kill(back.keeper_pid or 0, signal.SIGKILL)
    time.sleep(0.5)
    stopped = service.deployments.stop("adopted")
    assert stopped.status == "stopped"
    assert gone(back.serve_pid or 0)
    with pytest.raises(ConnectionRefusedError):
        call(deployment.url, OK, token, timeout=2)


def test_undeploy_reports_a_port_still_held(service: MLOps) -> None:
    deployment, _ = deploy(service, "held")
    service.deployments.stop("held")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", deployment.port))
    squatter.listen(1)
    try:
        with pytest.raises(ConflictError, match=rf"port {deployment.port} .*pid {os.getpid()}"):
            service.deployments.stop("held")
    finally:
        squatter.close()
    assert service.deployments.stop("held").status == "stopped"


def test_a_crash_after_a_failed_redeploy_is_restarted(service: MLOps, project: Path) -> None:
    deployment, token = deploy(service, "crash-after-fail")
    broken = json.loads((project / "score.ipynb").read_text())
    broken["cells"][1]["source"] = "import numpy as np\nimport no_such_module_here"
    with pytest.raises(MLOpsError, match="no_such_module_here"):
        service.deployments.deploy(
            "score.ipynb", "predict", name="crash-after-fail", content=broken
        )
    os.kill(deployment.serve_pid or 0, signal.SIGKILL)
    restarted = serving_again(service, "crash-after-fail", deployment)
    assert restarted.serving_version == deployment.serving_version
    assert call(deployment.url, OK, token, timeout=10) == (200, {"score": 2.25})


def test_slow_clients_do_not_lock_out_others_or_health(service: MLOps) -> None:
    deployment, token = deploy(service, "slowloris", header_timeout=3.0, timeout=3.0)
    host, port = "127.0.0.1", deployment.port
    # Given 300 connections that send a request line and then one header byte at a time,
    # and 100 that send whole headers and then one body byte at a time
    trickle_body = (
        f"POST /invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
    ).encode()
    slow: list[socket.socket] = []
    for index in range(400):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(b"POST /invoke HTTP/1.1\r\nHost: x\r\n" if index < 300 else trickle_body)
        sock.setblocking(False)
        slow.append(sock)
    statuses: list[int] = []
    latencies: list[float] = []
    ended = time.monotonic() + 6.0  # bounded: the attack stops by itself
    try:
        while time.monotonic() < ended:
            for sock in slow:
                with contextlib.suppress(OSError):  # closed by the server: as it should be
                    sock.send(b"X")
            # When a normal client and the supervisor's /health ask meanwhile
            for path in ("/invoke", "/health"):
                started = time.monotonic()
                if path == "/invoke":
                    status = call(deployment.url, OK, token, timeout=10)[0]
                else:
                    connection = http.client.HTTPConnection(host, port, timeout=10)
                    connection.request("GET", "/health")
                    status = connection.getresponse().status
                    connection.close()
                statuses.append(status)
                latencies.append(time.monotonic() - started)
            time.sleep(0.3)
        # Then the slow ones were closed: by eviction, the header deadline or the body's (3 s)
        closed = 0
        for sock in slow:
            sock.setblocking(True)
            sock.settimeout(0.5)
            try:
                data = sock.recv(4096)
                closed += data == b"" or (data.startswith(b"HTTP/1.1 408") and _closes(sock))
            except ConnectionResetError:
                closed += 1
            except OSError:
                pass
    finally:
        for sock in slow:
            sock.close()
    assert set(statuses) == {200}, statuses
    assert max(latencies) < 3.0, f"slowest answer {max(latencies):.2f} s"
    assert closed == len(slow), f"{len(slow) - closed} slow connections still open"


def _closes(sock: socket.socket) -> bool:
    """After the 408, the server closes the connection (reads end, or it is reset)."""
    sock.settimeout(8.0)  # a body answered early is dropped for header_timeout (3 s), then closed
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except OSError:
        return False
    return True


def test_keep_alive_clients_lose_no_request_across_redeploy_and_rollback(
    service: MLOps, project: Path
) -> None:
    deployment, token = deploy(service, "keepalive")
    host, port = "127.0.0.1", deployment.port
    body = json.dumps(OK).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    stop = threading.Event()
    failures: list[str] = []
    scores: list[float] = []
    counts: list[int] = []

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)  # one, kept alive
        sent = 0
        try:
            while not stop.is_set() and sent < 3000:
                sent += 1
                try:
                    connection.request("POST", "/invoke", body, headers)
                    response = connection.getresponse()
                    data = response.read()
                    if response.status != 200:
                        failures.append(f"{response.status} {data[:80]!r}")
                    else:
                        scores.append(json.loads(data)["score"])
                except (OSError, http.client.HTTPException) as err:
                    failures.append(repr(err))
                    connection.close()
        finally:
            connection.close()
            counts.append(sent)

    threads = [threading.Thread(target=client) for _ in range(24)]
    for thread in threads:
        thread.start()
    edited = json.loads((project / "score.ipynb").read_text())
    edited["cells"][3]["source"] = edited["cells"][3]["source"].replace("+ bias", "+ 2 * bias")
    try:
        time.sleep(1.0)
        service.deployments.deploy(
            "score.ipynb", "predict", name="keepalive", options=FAST, content=edited
        )
        time.sleep(1.0)
        service.deployments.rollback("keepalive")
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not failures, f"{len(failures)} of {sum(counts)} failed: {failures[:5]}"
    assert sum(counts) >= 1000
    assert {2.25, 2.5} <= set(scores)  # both versions answered


SECRETS = {"JUPYTER_TOKEN": "s3cret", "JPY_API_TOKEN": "s3cret", "AWS_SECRET_ACCESS_KEY": "x"}
ENV = make_notebook(
    ("x: float = 1.0", "parameters"),
    ("import os", "mlops:setup"),
    ("keys = sorted(os.environ) if x else []", "mlops:fn:env"),
)


def test_serving_processes_get_no_server_secrets_and_files_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    os.umask(0o022)  # the usual umask: what is private must be made so on purpose
    (tmp_path / "env.ipynb").write_text(json.dumps(ENV), encoding="utf-8")
    (tmp_path / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    service = MLOps(root_dir=str(tmp_path))
    try:
        assert service.run("score.ipynb").status == "succeeded"  # artifacts in the store
        deployment, token = service.deployments.deploy("env.ipynb", "env", options=FAST)
        assert token is not None
        status, answer = call(deployment.url, {"x": 1.0}, token)
        assert status == 200
        keys = set(answer["keys"])
        assert "PATH" in keys
        assert not keys & set(SECRETS), keys & set(SECRETS)
        keeper = psutil.Process(deployment.keeper_pid or 0).environ()
        assert not set(keeper) & set(SECRETS)
        served, _ = service.deployments.deploy("score.ipynb", "predict", options=FAST)
        assert call(served.url, OK, _ or "", timeout=10)[0] == 200
        time.sleep(1.0)  # a monitor window is written
        state = tmp_path / ".mlops"
        paths = [state, *state.rglob("*")]
        assert any(p.name == "mlops.db" for p in paths)
        assert any("artifacts" in p.parts and p.is_file() for p in paths)
        assert any(p.name == "serve.log" for p in paths)
        shared = [
            f"{p.relative_to(tmp_path)} {stat.filemode(p.stat().st_mode)}"
            for p in paths
            if p.exists() and p.stat().st_mode & 0o077
        ]
        assert not shared, shared
    finally:
        for each in service.deployments.every():
            service.deployments.stop(each.name)
        service.close()


def test_a_name_taken_by_another_notebook_is_refused_unless_replace(
    service: MLOps, project: Path
) -> None:
    first, token = deploy(service, "taken-name")
    (project / "other.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    assert service.run("other.ipynb").status == "succeeded"
    with pytest.raises(ConflictError, match="--replace"):
        service.deployments.deploy("other.ipynb", "predict", name="taken-name", options=FAST)
    assert service.deployments.get("taken-name").notebook == "score.ipynb"
    cli = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(project), "deploy",
         "other.ipynb", "-f", "predict", "--name", "taken-name"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 2
    assert "--replace" in cli.stderr
    assert "Traceback" not in cli.stderr
    replaced, new_token = service.deployments.deploy(
        "other.ipynb", "predict", name="taken-name", options=FAST, replace=True
    )
    assert replaced.notebook == "other.ipynb"
    assert replaced.port == first.port
    assert new_token is not None
    assert new_token != token
    assert call(first.url, OK, token)[0] == 401
    assert call(first.url, OK, new_token)[0] == 200
    assert service.store.deployments.events("taken-name")[0].kind == "replaced"
    with pytest.raises(ConflictError, match="no earlier version"):
        service.deployments.rollback("taken-name")  # not across the replace

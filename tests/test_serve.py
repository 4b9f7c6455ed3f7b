"""The serving process: a real ``python -m jupyter_mlops.serve`` on loopback, real HTTP.

Given a project whose ``train`` function ran (its outputs are artifacts in the store), when
``predict`` is served, then its upstream inputs are bound from that run, ``/invoke`` answers
what running ``predict`` in the notebook gives, and every client mistake gets its status.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from conftest import EXAMPLE, make_notebook

import jupyter_mlops
from jupyter_mlops.convert.runtime_io import mlops_load
from jupyter_mlops.serve.monitor import BUCKETS, bucket_of, merge, percentile, take_windows
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

TOKEN = secrets.token_urlsafe(24)
PACKAGE_PARENT = str(Path(jupyter_mlops.__file__).resolve().parents[1])

PREDICT = make_notebook(
    ("x: float = 0.0  # the feature\nfail: bool = False\ndelay: float = 0.0\nweird: bool = False\n"
     "exit_code: int | None = None", "parameters"),
    ("import sys\nimport time\nimport numpy as np", "mlops:setup"),
    ("weights = np.array([0.5, 2.0])\nbias = 0.25", "mlops:fn:train"),
    ("if fail:\n    raise ValueError('boom: a secret detail')\ntime.sleep(delay)\n"
     "if exit_code is not None:\n    sys.exit(exit_code)\n"
     "score = float(weights[1] * x + bias)\nvector = weights * x\n"
     "label = 'high' if score > 1 else 'low'\nblob = object() if weird else None",
     "mlops:fn:predict"),
)  # fmt: skip
FIELDS = {"x": 1.5, "fail": False, "delay": 0.0, "weird": False, "exit_code": None}


@dataclass
class Server:
    process: subprocess.Popen[str]
    record: dict[str, Any]
    log: Path

    @property
    def url(self) -> str:
        return str(self.record["url"])

    def post(self, body: Any, token: str | None = TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(f"{self.url}/invoke", content=content, headers=headers, **kwargs)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_SERVE_TOKEN_SHA256"}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + path if path else "")
    return {**env, **extra}


def _token_env() -> dict[str, str]:
    return {"MLOPS_SERVE_TOKEN_SHA256": hashlib.sha256(TOKEN.encode()).hexdigest()}


def serve_command(root: Path, notebook: str, function: str, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "jupyter_mlops.serve", str(root / notebook), function,
        "--root", str(root), "--port", "0", *options,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, MLOps]]:
    root = tmp_path_factory.mktemp("serve")
    (root / "predict.ipynb").write_text(json.dumps(PREDICT), encoding="utf-8")
    mlops = MLOps(root_dir=str(root))
    train = mlops.run("predict.ipynb", function="train")
    assert train.status == "succeeded", train.error
    yield root, mlops
    mlops.close()


def start(
    root: Path, notebook: str, function: str, *options: str, pass_fds: tuple[int, ...] = ()
) -> Server:
    log = root / f"{function}-{secrets.token_hex(4)}.log"
    process = subprocess.Popen(
        serve_command(root, notebook, function, "--log-file", str(log), *options),
        env=_env(**_token_env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=pass_fds,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the start record, once the socket is bound
    if not line:
        process.wait(10)
        raise AssertionError(f"the server did not start: {process.stderr.read()}")  # type: ignore[union-attr]
    server = Server(process, json.loads(line), log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)
    for stream in (server.process.stdout, server.process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture(scope="module")
def server(project: tuple[Path, MLOps]) -> Iterator[Server]:
    """``predict`` with calls always in threads (so the timeout always applies), small limits."""
    root, mlops = project
    version = mlops.inspect(root / "predict.ipynb").function("predict").version
    options = ("--timeout", "1", "--max-body", "4096", "--max-batch", "50", "--inline-below", "0")
    served = start(root, "predict.ipynb", "predict", "--version", version[:12], *options)
    yield served
    stop(served)


# -- start -----------------------------------------------------------------------------------


def test_start_record_names_the_version_and_the_binding(
    server: Server, project: tuple[Path, MLOps]
) -> None:
    root, mlops = project
    plan = mlops.inspect(root / "predict.ipynb")
    train_run = mlops.runs(function="train").runs[0]
    record = server.record
    assert record["version"] == plan.function("predict").version
    assert record["host"] == "127.0.0.1"
    assert record["url"].startswith("http://127.0.0.1:")
    bound = {entry["name"]: entry for entry in record["binding"]}
    assert set(bound) == {"weights", "bias"}
    for entry in bound.values():
        assert entry["run"] == train_run.id
        assert entry["function"] == "train"
        assert entry["how"] == "newest"
    assert TOKEN not in json.dumps(record)
    assert hashlib.sha256(TOKEN.encode()).hexdigest() not in json.dumps(record)


def test_refuses_to_start_without_a_token_hash_or_with_another_version(
    project: tuple[Path, MLOps],
) -> None:
    root, _ = project
    command = serve_command(root, "predict.ipynb", "predict")
    no_hash = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=60)
    assert no_hash.returncode == 2
    assert "MLOPS_SERVE_TOKEN_SHA256" in no_hash.stderr
    other = subprocess.run(
        [*command, "--version", "0" * 12],
        env=_env(**_token_env()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 2
    assert "no version of 'predict'" in other.stderr


def test_refuses_to_start_when_no_run_produced_the_inputs(tmp_path: Path) -> None:
    (tmp_path / "predict.ipynb").write_text(json.dumps(PREDICT), encoding="utf-8")
    command = serve_command(tmp_path, "predict.ipynb", "predict")
    result = subprocess.run(
        command, env=_env(**_token_env()), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no succeeded run produced train/bias, train/weights" in result.stderr
    assert "Traceback" not in result.stderr


# -- invoke ----------------------------------------------------------------------------------


def test_invoke_gives_what_running_the_function_gives(
    server: Server, project: tuple[Path, MLOps]
) -> None:
    _, mlops = project
    run = mlops.run("predict.ipynb", function="predict", parameters=FIELDS)
    assert run.status == "succeeded", run.error
    expected = {
        artifact.name.split("/", 1)[1]: mlops_load(str(mlops.store.artifact_path(artifact.id)))
        for artifact in run.artifacts
        if artifact.name.startswith("predict/")
    }
    response = server.post(FIELDS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "score": expected["score"],
        "vector": expected["vector"].tolist(),  # numpy array -> list
        "label": expected["label"],
        "blob": None,
    }
    assert body["score"] == 3.25


def test_batch_gives_one_result_per_object(server: Server) -> None:
    batch = [{**FIELDS, "x": x} for x in (0.0, 0.25, 2.0)]
    response = server.post(batch)
    assert response.status_code == 200
    assert [item["score"] for item in response.json()] == [0.25, 0.75, 4.25]
    assert [item["label"] for item in response.json()] == ["low", "low", "high"]


def test_an_int_is_accepted_for_a_float(server: Server) -> None:
    assert server.post({**FIELDS, "x": 2}).json()["score"] == 4.25


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({**FIELDS, "x": "abc"}, "x", "expected float, got str"),
        ({**FIELDS, "fail": 1}, "fail", "expected bool, got int"),
        ({k: v for k, v in FIELDS.items() if k != "x"}, "x", "missing field 'x'"),
        ({**FIELDS, "model": 1}, "model", "unknown field 'model'"),
        ([FIELDS, {**FIELDS, "x": None}], "[1].x", "expected float, got None"),
    ],
)
def test_wrong_fields_are_400_naming_the_field(
    server: Server, body: Any, field: str, words: str
) -> None:
    response = server.post(body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert words in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"x": NaN, "fail": false, "delay": 0, "weird": false}', "NaN is not a JSON value"),
        (b"[]", "empty batch"),
        (b"3", "expected a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bodies_that_are_not_objects_are_400(server: Server, body: bytes, words: str) -> None:
    response = server.post(body)
    assert response.status_code == 400
    assert words in response.json()["message"]


_OTHERS = '"fail": false, "delay": 0, "weird": false'


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        # past the interpreter's recursion limit (10,000 deep is over this server's 4 KB limit)
        (b"[" * 2_000 + b"]" * 2_000, "body", "deeper than 64"),
        (b'{"x": ' + b"[" * 80 + b"]" * 80 + b", " + _OTHERS.encode() + b"}", "x", "deeper"),
        (("{" + _OTHERS + ', "x": 1' + "0" * 400 + "}").encode(), "x", "401 digits"),
        (("{" + _OTHERS + ', "x": 1e999}').encode(), "x", "1e999 is out of range"),
        (("[{" + _OTHERS + ', "x": 1}, {' + _OTHERS + ', "x": NaN}]').encode(), "[1].x", "NaN"),
        (("{" + _OTHERS + ', "x": 1, "exit_code": -Infinity}').encode(), "exit_code", "Infinity"),
        (("{" + _OTHERS + ', "x": 1, "\\ud800": 2}').encode(), "\\ud800", "lone surrogate"),
    ],
)
def test_json_a_service_cannot_hold_is_400_naming_the_field(
    server: Server, body: bytes, field: str, words: str
) -> None:
    response = server.post(body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert words in response.json()["message"]
    assert server.post(FIELDS).status_code == 200  # and the endpoint keeps serving


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer", f"Token {TOKEN}", TOKEN])
def test_no_or_wrong_token_is_401(server: Server, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for response in (
        httpx.post(f"{server.url}/invoke", json=FIELDS, headers=headers),
        httpx.get(f"{server.url}/openapi.json", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    basic = httpx.post(f"{server.url}/invoke", json=FIELDS, auth=("user", TOKEN))
    assert basic.status_code == 401


def test_oversized_body_and_batch_are_413(server: Server) -> None:
    padding = {**FIELDS, "x": 1.0}
    big = json.dumps([padding] * 200).encode()  # > 4096 bytes
    assert len(big) > 4096
    assert server.post(big).status_code == 413
    # sent in chunks without a Content-Length: the limit still holds
    chunked = httpx.post(
        f"{server.url}/invoke",
        content=iter([big[:3000], big[3000:]]),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert chunked.status_code == 413
    many = [{"x": 1.0}] * 51
    response = server.post(many)
    assert response.status_code == 413
    assert "at most 50" in response.json()["message"]


def test_a_slow_call_times_out_with_504_and_the_server_keeps_serving(server: Server) -> None:
    started = time.monotonic()
    response = server.post({**FIELDS, "delay": 3.0}, timeout=10)
    assert response.status_code == 504
    assert time.monotonic() - started < 2.5
    assert response.json()["id"]
    assert server.post(FIELDS).status_code == 200


def test_a_body_that_does_not_arrive_is_408_within_the_timeout(server: Server) -> None:
    # Given a client that announces 50 bytes and sends none (the server's timeout is 1 s)
    port = server.record["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        started = time.monotonic()
        client.sendall(
            f"POST /invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Length: 50\r\n\r\n".encode()
        )
        head = client.recv(4096)
    # Then it gets 408 after the timeout, give or take the quarter the check takes
    assert head.startswith(b"HTTP/1.1 408"), head
    assert 0.9 < time.monotonic() - started < 3
    assert server.post(FIELDS).status_code == 200


def test_the_function_raising_is_500_with_an_id_and_the_traceback_only_in_the_log(
    server: Server,
) -> None:
    response = server.post({**FIELDS, "fail": True})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "FunctionError"
    assert "ValueError" in body["message"]
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    log = server.log.read_text(encoding="utf-8")
    assert f"error {body['id']}" in log
    assert "Traceback" in log
    assert "raise ValueError('boom: a secret detail')" in log  # the cell's line, via linecache
    assert TOKEN not in log
    assert server.post(FIELDS).status_code == 200  # still serving


@pytest.mark.parametrize("code", [0, 1])
def test_sys_exit_in_the_function_is_500_and_the_server_keeps_serving(
    server: Server, code: int
) -> None:
    response = server.post({**FIELDS, "exit_code": code})
    assert response.status_code == 500
    assert "SystemExit" in response.json()["message"]
    assert server.post(FIELDS).status_code == 200


def test_an_unconvertible_output_is_500_naming_it(server: Server) -> None:
    response = server.post({**FIELDS, "weird": True})
    assert response.status_code == 500
    assert response.json()["field"] == "blob"
    assert "'blob'" in response.json()["message"]
    assert server.post(FIELDS).status_code == 200


def test_unknown_routes_and_methods(server: Server) -> None:
    assert httpx.get(f"{server.url}/nope").status_code == 404
    response = httpx.get(f"{server.url}/invoke", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# -- health and the OpenAPI document ---------------------------------------------------------


def test_health_needs_no_token_and_counts_requests(server: Server) -> None:
    before = httpx.get(f"{server.url}/health").json()
    server.post(FIELDS)
    server.post({"x": "bad"})
    after = httpx.get(f"{server.url}/health").json()
    assert after["status"] == "ok"
    assert after["function"] == "predict"
    assert after["pid"] == server.process.pid
    assert after["invoke"]["requests"] == before["invoke"]["requests"] + 2
    assert after["invoke"]["rejected"] == before["invoke"]["rejected"] + 1
    assert after["invoke"]["latency_ms"]["p50"] is not None


def test_openapi_is_generated_from_parameters_and_outputs(server: Server) -> None:
    response = httpx.get(f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == server.record["version"]
    inputs = document["components"]["schemas"]["Inputs"]
    assert inputs["properties"]["x"]["type"] == "number"
    assert inputs["properties"]["x"]["description"] == "the feature"
    assert inputs["properties"]["fail"]["type"] == "boolean"
    assert sorted(inputs["required"]) == ["delay", "exit_code", "fail", "weird", "x"]
    assert inputs["properties"]["exit_code"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "x-python-type": "int | None",
    }
    assert inputs["additionalProperties"] is False
    outputs = document["components"]["schemas"]["Outputs"]
    assert set(outputs["properties"]) == {"score", "vector", "label", "blob"}
    assert "/invoke" in document["paths"]


# -- the example notebook --------------------------------------------------------------------


def test_evaluate_of_the_example_serves_the_metrics_of_its_run(tmp_path: Path) -> None:
    (tmp_path / "churn.ipynb").write_bytes(EXAMPLE.read_bytes())
    mlops = MLOps(root_dir=str(tmp_path))
    try:
        run = mlops.run("churn.ipynb", parameters={"n_customers": 400})
        assert run.status == "succeeded", run.error
        served = start(tmp_path, "churn.ipynb", "evaluate", "--from", run.id[:12])
    finally:
        mlops.close()
    try:
        assert {entry["run"] for entry in served.record["binding"]} == {run.id}
        assert {entry["how"] for entry in served.record["binding"]} == {"from-run"}
        response = served.post({})
        assert response.status_code == 200, response.text
        assert response.json() == {
            name: run.metrics[name] for name in ("accuracy", "f1", "roc_auc")
        }
    finally:
        stop(served)


# -- load ------------------------------------------------------------------------------------


def test_load_2000_requests_at_32_concurrent_zero_errors_bounded_memory(
    project: tuple[Path, MLOps],
) -> None:
    root, _ = project
    served = start(root, "predict.ipynb", "predict")  # default options: fast calls inline
    try:
        process = psutil.Process(served.process.pid)

        async def load(total: int, concurrency: int) -> list[int]:
            # keep-alive connections, each request written at once (as curl sends it)
            port = served.record["port"]
            statuses: list[int] = []
            queue = iter(range(total))

            async def worker() -> None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                for i in queue:
                    body = json.dumps({**FIELDS, "x": float(i % 7)}).encode()
                    writer.write(
                        f"POST /invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                        f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length: *(\d+)", head)
                    assert length is not None
                    answer = json.loads(await reader.readexactly(int(length.group(1))))
                    assert answer.get("label") in ("low", "high"), answer
                    statuses.append(int(head.split(b" ", 2)[1]))
                writer.close()
                await writer.wait_closed()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return statuses

        asyncio.run(load(200, 32))  # warm-up
        rss_before = process.memory_info().rss
        statuses = asyncio.run(load(2000, 32))
        rss_after = process.memory_info().rss
        assert len(statuses) == 2000
        assert set(statuses) == {200}
        assert rss_after - rss_before < 20 * 1024 * 1024
        health = httpx.get(f"{served.url}/health").json()["invoke"]
        assert health["requests"] == 2200
        assert health["errors"] == 0
    finally:
        stop(served)


def test_two_worker_processes_serve_the_same_socket_and_stop_on_sigterm(
    project: tuple[Path, MLOps],
) -> None:
    root, _ = project
    served = start(root, "predict.ipynb", "predict", "--workers", "2")
    try:
        assert served.record["workers"] == 2
        for x in range(20):
            assert served.post({**FIELDS, "x": float(x)}).json()["score"] == 2.0 * x + 0.25
        worker = httpx.get(f"{served.url}/health").json()["pid"]
        assert worker != served.process.pid  # answered by a worker, not the supervisor
        assert worker in {child.pid for child in psutil.Process(served.process.pid).children()}
    finally:
        served.process.terminate()
        assert served.process.wait(20) == 0
        stop(served)


# -- an inherited socket (a supervisor keeps one across restarts) ----------------------------


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.mark.parametrize("workers", [1, 2])
def test_serves_on_an_inherited_listening_socket(project: tuple[Path, MLOps], workers: int) -> None:
    root, _ = project
    sock = _listening()
    fd, port = sock.fileno(), sock.getsockname()[1]
    monitor = root / f"monitor-{secrets.token_hex(4)}"
    try:
        served = start(
            root, "predict.ipynb", "predict", "--fd", str(fd), "--workers", str(workers),
            "--monitor-dir", str(monitor), pass_fds=(fd,),
        )  # fmt: skip
        try:
            assert served.record["port"] == port  # from getsockname(), not --port 0
            assert served.record["host"] == "127.0.0.1"
            for x in range(10):
                assert served.post({**FIELDS, "x": float(x)}).json()["score"] == 2.0 * x + 0.25
            parent = psutil.Process(served.process.pid)
            serving = {parent.pid} if workers == 1 else {p.pid for p in parent.children()}
        finally:
            stop(served)
        # the windows come from the processes that served (each worker writes its own)
        windows = take_windows(monitor)
        assert merge(windows)["requests"] == 10
        assert {window["pid"] for window in windows} <= serving
        # When the process is gone, the socket still takes connections: they wait in its
        # backlog, and the next process on the same socket answers them
        with socket.create_connection(("127.0.0.1", port), timeout=30) as waiting:
            body = json.dumps({**FIELDS, "x": 2.0}).encode()
            waiting.sendall(
                f"POST /invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            again = start(root, "predict.ipynb", "predict", "--fd", str(fd), pass_fds=(fd,))
            try:
                answer = b""
                while chunk := waiting.recv(65536):
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 200"), answer
                assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["score"] == 4.25
            finally:
                stop(again)
    finally:
        sock.close()


def test_refuses_a_descriptor_that_is_not_a_listening_socket(
    project: tuple[Path, MLOps],
) -> None:
    root, _ = project
    with socket.socket() as unbound:
        fd = unbound.fileno()
        result = subprocess.run(
            [*serve_command(root, "predict.ipynb", "predict"), "--fd", str(fd)],
            env=_env(**_token_env()),
            capture_output=True,
            text=True,
            timeout=60,
            pass_fds=(fd,),
        )
    assert result.returncode == 2
    assert f"--fd {fd} is not a listening TCP socket" in result.stderr


# -- the working directory (a supervisor serves a snapshot kept elsewhere) -------------------

GREET = make_notebook(
    ("name: str = 'world'", "parameters"),
    ("from pathlib import Path\ngreeting = Path('greeting.txt').read_text().strip()",
     "mlops:setup"),
    ("message = f'{greeting}, {name}'", "mlops:fn:greet"),
)  # fmt: skip


def test_setup_code_runs_in_the_working_directory(tmp_path: Path) -> None:
    # Given a notebook whose setup reads a relative path, and that file only in another folder
    (tmp_path / "greet.ipynb").write_text(json.dumps(GREET), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / "greeting.txt").write_text("hello\n", encoding="utf-8")
    # When it is served from the notebook's folder, the setup fails, saying why
    failed = subprocess.run(
        serve_command(tmp_path, "greet.ipynb", "greet"),
        env=_env(**_token_env()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 2
    assert "FileNotFoundError" in failed.stderr
    # Then with --workdir it reads the file there
    served = start(tmp_path, "greet.ipynb", "greet", "--workdir", str(data))
    try:
        assert served.record["work_dir"] == str(data.resolve())
        assert served.post({"name": "mlops"}).json() == {"message": "hello, mlops"}
    finally:
        stop(served)


# -- monitor windows -------------------------------------------------------------------------


def _wait_for(predicate: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_monitor_windows_count_every_request_and_keep_samples_but_no_token(
    project: tuple[Path, MLOps],
) -> None:
    root, _ = project
    monitor = root / f"monitor-{secrets.token_hex(4)}"
    served = start(
        root, "predict.ipynb", "predict", "--monitor-dir", str(monitor),
        "--monitor-interval", "0.2", "--sample-rate", "1.0", "--max-samples", "100",
        "--max-sample-bytes", "300",
    )  # fmt: skip
    try:
        # Given requests of every kind: fine, a client mistake, the function raising, a
        # wrong token, and a batch larger than a sample may be
        assert served.post(FIELDS).status_code == 200
        assert served.post({**FIELDS, "x": "abc"}).status_code == 400
        _wait_for(lambda: any(monitor.glob("window-*.json")))  # the timer wrote a window
        assert served.post({**FIELDS, "fail": True}).status_code == 500
        wrong = f"wrong-{secrets.token_hex(8)}"
        assert served.post(FIELDS, token=wrong).status_code == 401
        big = [{**FIELDS, "x": float(x)} for x in range(10)]
        assert served.post(big).status_code == 200
    finally:
        stop(served)  # SIGTERM: the last window is written at shutdown
    assert not list(monitor.glob(".*"))  # no window left half-written
    texts = [path.read_text(encoding="utf-8") for path in monitor.glob("window-*.json")]
    assert len(texts) >= 2
    for text in texts:
        assert TOKEN not in text
        assert hashlib.sha256(TOKEN.encode()).hexdigest() not in text
        assert wrong not in text  # no header at all, not even a wrong token
    windows = take_windows(monitor)
    assert not list(monitor.iterdir())  # consumed
    assert {window["pid"] for window in windows} == {served.process.pid}
    assert {window["version"] for window in windows} == {served.record["version"]}
    total = merge(windows)
    assert total["requests"] == 5
    assert total["by_status"] == {"200": 2, "400": 1, "401": 1, "500": 1}
    assert (total["errors"], total["rejected"]) == (1, 2)
    assert sum(total["buckets"].values()) == 5
    assert total["p50_ms"] is not None
    assert total["p99_ms"] <= total["max_ms"]
    samples = {sample["status"]: sample for sample in total["samples"]}
    assert len(total["samples"]) == 5  # rate 1.0: every request
    assert samples[400]["input"] == {**FIELDS, "x": "abc"}
    assert samples[400]["output"]["field"] == "x"
    assert samples[500]["output"]["error"] == "FunctionError"
    assert samples[401]["input"] is None  # its body is never read
    batch = [sample for sample in total["samples"] if sample["status"] == 200][-1]
    assert batch["input"] == {"truncated": True, "bytes": len(json.dumps(big))}
    assert batch["output"]["truncated"] is True
    assert all(sample["latency_ms"] > 0 for sample in total["samples"])


@pytest.mark.parametrize(("rate", "max_samples", "kept"), [(0.0, 20, 0), (1.0, 2, 2)])
def test_monitor_samples_follow_the_rate_and_the_limit(
    project: tuple[Path, MLOps], rate: float, max_samples: int, kept: int
) -> None:
    root, _ = project
    monitor = root / f"monitor-{secrets.token_hex(4)}"
    served = start(
        root,
        "predict.ipynb",
        "predict",
        "--monitor-dir",
        str(monitor),
        "--sample-rate",
        str(rate),
        "--max-samples",
        str(max_samples),
    )  # fmt: skip
    # (the default interval, 5 s: one window, written at shutdown)
    try:
        for x in range(6):
            assert served.post({**FIELDS, "x": float(x)}).status_code == 200
    finally:
        stop(served)
    (window,) = take_windows(monitor)
    assert window["requests"] == 6
    assert len(window["samples"]) == kept
    for sample in window["samples"]:
        assert sample["output"]["score"] == 2.0 * sample["input"]["x"] + 0.25


# -- monitor arithmetic ----------------------------------------------------------------------


def test_buckets_are_log_spaced_and_a_latency_lands_within_5_percent() -> None:
    assert BUCKETS[0] == 0.01
    assert BUCKETS[-1] >= 60_000
    assert all(b / a == pytest.approx(1.05, rel=2e-3) for a, b in itertools.pairwise(BUCKETS))
    for ms in (0.001, 0.01, 0.0101, 0.05, 0.3, 1.0, 7.77, 250.0, 59_999.0):
        bound = BUCKETS[bucket_of(ms)]
        assert ms <= bound <= max(ms, BUCKETS[0]) * 1.051
    assert bucket_of(10**9) == len(BUCKETS) - 1  # beyond the last bound: the last bucket


def test_percentile_of_buckets() -> None:
    assert percentile({}, 0.5) is None
    counts = {bucket_of(1.0): 90, bucket_of(10.0): 9, bucket_of(100.0): 1}
    assert percentile(counts, 0.5) == BUCKETS[bucket_of(1.0)]
    assert percentile(counts, 0.9) == BUCKETS[bucket_of(1.0)]
    assert percentile(counts, 0.99) == BUCKETS[bucket_of(10.0)]
    assert percentile(counts, 1.0) == BUCKETS[bucket_of(100.0)]
    assert percentile(counts, 0.0) == BUCKETS[bucket_of(1.0)]
    as_read = {str(i): n for i, n in counts.items()}  # keys as a window file has them
    assert percentile(as_read, 0.99) == percentile(counts, 0.99)
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        percentile(counts, 99)


def _window(pid: int, start: float, latencies: list[float], **extra: Any) -> dict[str, Any]:
    buckets: dict[str, int] = {}
    for ms in latencies:
        buckets[str(bucket_of(ms))] = buckets.get(str(bucket_of(ms)), 0) + 1
    return {
        "pid": pid, "start": start, "end": start + 5, "requests": len(latencies),
        "by_status": {"200": len(latencies)}, "errors": 0, "rejected": 0, "buckets": buckets,
        "max_ms": max(latencies), "samples": [{"at": start + 1, "status": 200}], **extra,
    }  # fmt: skip


def test_merge_adds_windows_up() -> None:
    a = _window(1, 100.0, [1.0] * 8 + [2.0, 3.0])
    b = _window(2, 95.0, [50.0] * 10, by_status={"200": 9, "503": 1}, errors=1)
    total = merge([a, b])
    assert (total["start"], total["end"]) == (95.0, 105.0)
    assert total["requests"] == 20
    assert total["by_status"] == {"200": 19, "503": 1}
    assert total["errors"] == 1
    assert sum(total["buckets"].values()) == 20
    assert total["p50_ms"] == BUCKETS[bucket_of(3.0)]  # rank 10 of 20
    assert total["p90_ms"] == total["p99_ms"] == 50.0  # capped at the largest latency seen
    assert total["max_ms"] == 50.0
    assert [sample["at"] for sample in total["samples"]] == [96.0, 101.0]  # oldest first
    assert total["pids"] == [1, 2]
    # merging merged windows gives the same counts
    again = merge([merge([a]), merge([b])])
    assert {k: again[k] for k in ("requests", "buckets", "p50_ms", "p99_ms")} == {
        k: total[k] for k in ("requests", "buckets", "p50_ms", "p99_ms")
    }
    empty = merge([])
    assert (empty["requests"], empty["p50_ms"], empty["start"]) == (0, None, None)


def test_take_windows_reads_and_deletes_finished_files_only(tmp_path: Path) -> None:
    assert take_windows(tmp_path / "absent") == []
    for seq, start in ((1, 20.0), (2, 10.0)):
        (tmp_path / f"window-7-{seq}.json").write_text(json.dumps(_window(7, start, [1.0])))
    (tmp_path / ".window-7-3.json.tmp").write_text("{half")  # being written
    (tmp_path / "window-7-4.json").write_text("{broken")
    (tmp_path / "notes.txt").write_text("not a window")
    windows = take_windows(tmp_path)
    assert [window["start"] for window in windows] == [10.0, 20.0]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".window-7-3.json.tmp", ".window-7-4.json.bad", "notes.txt",
    ]  # fmt: skip
    assert take_windows(tmp_path) == []

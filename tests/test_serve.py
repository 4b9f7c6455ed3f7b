"""The serving process: a real ``python -m jupyter_mlops.serve`` on loopback, real HTTP.

Given a project whose ``train`` function ran (its outputs are artifacts in the store), when
``predict`` is served, then its upstream inputs are bound from that run, ``/invoke`` answers
what running ``predict`` in the notebook gives, and every client mistake gets its status.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
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


def start(root: Path, notebook: str, function: str, *options: str) -> Server:
    log = root / f"{function}-{secrets.token_hex(4)}.log"
    process = subprocess.Popen(
        serve_command(root, notebook, function, "--log-file", str(log), *options),
        env=_env(**_token_env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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

"""Serving benchmark: ``python bench/serve.py [--duration S] [--client auto|wrk|python]``.

Requests per second and p50/p99 latency at concurrency 1, 16 and 64 for a trivial function
(``y = x * 2.0 + 1.0``), served three ways on the same uvicorn stack, measured one after the
other in the same run:

- ``ours``: ``python -m jupyter_mlops.serve`` on a tagged notebook with that cell (token
  check, typed fields, thread pool, JSON conversion, statistics), with monitoring on as a
  deployment runs it: ``--monitor-dir`` set, the default window interval (5 s) and sample
  rate (0.1); after each case the bench consumes the window files as the supervisor does
  and prints what they counted;
- ``hand ASGI``: a minimal hand-written ASGI callable with the same token check that calls
  the same expression inline;
- ``hand Starlette``: the same as a Starlette route (only if starlette is installed).

Each app runs on uvloop + httptools and on asyncio + h11. The load comes from ``wrk`` if it
is installed (``apt-get install -y wrk``), else from an asyncio raw-socket client with
keep-alive connections; either way in its own process. The apps of a case run side by side
and are measured in turn at each concurrency (``--repeat N``: N rounds, medians, and the
median of each round's ratio); ``--pin`` puts the servers on one CPU and the load on the
others, which steadies the numbers on a small noisy machine. Numbers are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
BODY = b'{"x": 1.5}'
STACKS = (("uvloop", "httptools"), ("asyncio", "h11"))

NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "cells": [
        {
            "cell_type": "code",
            "id": "params",
            "metadata": {"tags": ["parameters"]},
            "source": "x: float = 0.0",
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "id": "double",
            "metadata": {"tags": ["mlops:fn:double"]},
            "source": "y = x * 2.0 + 1.0",
            "outputs": [],
            "execution_count": None,
        },
    ],
}

MODEL_CELLS = [
    ("setup", ["mlops:setup"], "from sklearn.linear_model import LogisticRegression"),
    (
        "train",
        ["mlops:fn:train"],
        "model = LogisticRegression().fit([[-2.0], [-1.0], [1.0], [2.0]], [0, 0, 1, 1])",
    ),
    ("score", ["mlops:fn:score"], "probability = float(model.predict_proba([[x]])[0, 1])"),
]
for _name, _tags, _source in MODEL_CELLS:
    NOTEBOOK["cells"].append(  # type: ignore[attr-defined]
        {
            "cell_type": "code",
            "id": _name,
            "metadata": {"tags": _tags},
            "source": _source,
            "outputs": [],
            "execution_count": None,
        }
    )

# -- the hand-written apps -------------------------------------------------------------------

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_DIGEST = hashlib.sha256(TOKEN.encode()).hexdigest().encode()
_COMPUTE: list[Callable[[Any], dict[str, Any]]] = []  # what the hand-written apps call


def _compute(model_path: str | None) -> Callable[[Any], dict[str, Any]]:
    if model_path is None:
        return lambda x: {"y": x * 2.0 + 1.0}
    import pickle

    with open(model_path, "rb") as handle:
        model = pickle.load(handle)  # the bench's own artifact, written a moment ago
    return lambda x: {"probability": float(model.predict_proba([[x]])[0, 1])}


def _token_ok(header: bytes | None) -> bool:
    import hmac

    if not header or not header.startswith(b"Bearer "):
        return False
    return hmac.compare_digest(hashlib.sha256(header[7:]).hexdigest().encode(), _DIGEST)


async def hand_asgi(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if not _token_ok(dict(scope["headers"]).get(b"authorization")):
        status, out = 401, b'{"error": "Unauthorized"}'
    else:
        x = json.loads(body)["x"]
        status, out = 200, json.dumps(_COMPUTE[0](x)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": out})


def hand_starlette() -> Any:
    # imported by name: starlette is optional here, and mypy checks the bench without it
    starlette = {
        name: importlib.import_module(f"starlette.{name}")
        for name in ("applications", "responses", "routing")
    }
    response = starlette["responses"].JSONResponse

    async def invoke(request: Any) -> Any:
        if not _token_ok(request.headers.get("authorization", "").encode()):
            return response({"error": "Unauthorized"}, status_code=401)
        x = (await request.json())["x"]
        return response(_COMPUTE[0](x))

    route = starlette["routing"].Route("/invoke", invoke, methods=["POST"])
    return starlette["applications"].Starlette(routes=[route])


def run_hand(kind: str, loop: str, http: str, port_file: str, model: str | None) -> None:
    import uvicorn

    _COMPUTE.append(_compute(model))
    app = hand_asgi if kind == "asgi" else hand_starlette()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    Path(port_file).write_text(str(sock.getsockname()[1]))
    config = uvicorn.Config(
        app, loop=loop, http=http, access_log=False, log_level="warning", lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])


# -- load generators -------------------------------------------------------------------------


def python_client(port: int, concurrency: int, duration: float) -> dict[str, Any]:
    """Keep-alive connections sending the same POST; latencies of every response."""
    request = (
        f"POST /invoke HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    latencies: list[float] = []
    errors = 0

    async def worker(deadline: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))
        return time.perf_counter() - started

    try:
        import uvloop

        elapsed = uvloop.run(main())
    except ImportError:
        elapsed = asyncio.run(main())
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "requests": len(latencies),
        "errors": errors,
    }


_WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY.decode()}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {TOKEN}"
"""


def wrk_client(port: int, concurrency: int, duration: float, script: Path) -> dict[str, Any]:
    threads = 1 if concurrency == 1 else 2
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--latency",
    ]
    out = subprocess.run(
        [*command, "-s", str(script), f"http://127.0.0.1:{port}/invoke"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(percent: str) -> float:
        value, unit = re.search(rf"\n\s+{percent}%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(requests.group(1)) if requests else 0,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1))) if socket_errors else 0),
    }


# -- the runner ------------------------------------------------------------------------------


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invoke",
        data=BODY,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                json.loads(response.read())
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not answer in time")


_SERVER_CPUS: set[int] = set()  # --pin: the servers' CPUs (the load runs on the others)


def _pin() -> str:
    """Servers on the last CPU, this process and the load generator on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "not pinned (one CPU)"
    _SERVER_CPUS.add(cpus[-1])
    os.sched_setaffinity(0, set(cpus[:-1]))  # wrk and the python client inherit it
    return f"servers pinned to CPU {cpus[-1]}, the load to CPU {','.join(map(str, cpus[:-1]))}"


def _start(
    app: str, function: str, model: str | None, loop: str, http: str, work: Path
) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "MLOPS_SERVE_TOKEN_SHA256": _DIGEST.decode()}
    record = work / f"{app}-{function}-{loop}.json"
    record.unlink(missing_ok=True)
    if app == "ours":
        command = [
            sys.executable, "-m", "jupyter_mlops.serve", str(work / "bench.ipynb"), function,
            "--root", str(work), "--port", "0", "--record", str(record), "--loop", loop,
            "--http", http, "--log-level", "warning", "--log-file", str(work / "serve.log"),
            # monitoring on, as a deployment runs it (default interval and sample rate)
            "--monitor-dir", str(work / "monitor"),
        ]  # fmt: skip
    else:
        command = [
            sys.executable, __file__, "--hand", app, "--loop", loop, "--http", http,
            "--port-file", str(record), *(["--model", model] if model else []),
        ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    if _SERVER_CPUS:
        os.sched_setaffinity(process.pid, _SERVER_CPUS)  # its workers, started later, inherit it
    deadline = time.monotonic() + 60
    while not record.exists() or not record.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{app} did not start (exit {process.poll()})")
        time.sleep(0.05)
    text = record.read_text()
    port = json.loads(text)["port"] if app == "ours" else int(text)
    _wait_ready(port, process)
    return process, port


def _train(work: Path) -> str | None:
    """Run ``train`` of the bench notebook once; the path of its stored model."""
    if importlib.util.find_spec("sklearn") is None:
        return None
    from jupyter_mlops.service import MLOps

    mlops = MLOps(root_dir=str(work))
    try:
        run = mlops.run("bench.ipynb", function="train")
        if run.status != "succeeded":
            raise RuntimeError(f"the bench's train run {run.status}: {run.error}")
        (model,) = [a for a in run.artifacts if a.name == "train/model"]
        return str(mlops.store.artifact_path(model.id))
    finally:
        mlops.close()


def _measure(port: int, concurrency: int, duration: float, client: str, work: Path) -> Any:
    if client == "wrk":
        script = work / "post.lua"
        script.write_text(_WRK_SCRIPT)
        wrk_client(port, concurrency, min(1.0, duration), script)  # warm-up
        return wrk_client(port, concurrency, duration, script)
    command = [sys.executable, __file__, "--client-run", str(port), str(concurrency)]
    subprocess.run([*command, str(min(1.0, duration))], check=True, capture_output=True)
    out = subprocess.run([*command, str(duration)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _report_monitor(directory: Path) -> None:
    """What ours' monitor counted (warm-ups included), consumed as the supervisor would."""
    from jupyter_mlops.serve.monitor import merge, take_windows

    total = merge(take_windows(directory))
    print(f"{'':8} monitor of ours: {total['requests']} requests in {total['windows']} "
          f"window files, {len(total['samples'])} samples, p50 {total['p50_ms']} ms, "
          f"p99 {total['p99_ms']} ms")  # fmt: skip


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(row[key] for row in rows))


def _counting_cost(fields: int = 20, requests: int = 20000) -> float:
    """Seconds the serving process spends counting one request's ``fields`` and its answer
    (a dict prediction of two fields) into drift bins.

    Measured in process on the monitor's own ``Recorder.count`` (20 numeric fields, a
    reference of 1,000 values each), so the cost can be set against a served request's
    time: the serving rows above run without references, i.e. with counting off.
    """
    from jupyter_mlops.drift.reference import summarize
    from jupyter_mlops.serve.monitor import Recorder

    names = [f"f{i}" for i in range(fields)]
    references = {name: summarize(name, [float(v) for v in range(1000)]) for name in names}
    # the prediction too: a dict answer with a probability and a flag, as the example's
    references["prediction.p"] = summarize("prediction.p", [v / 1000 for v in range(1000)])
    references["prediction.yes"] = summarize("prediction.yes", [True, False] * 500)
    recorder = Recorder(None, references=references)
    items = [{name: float(i % 1000) for name in names} for i in range(requests)]
    answers = [{"p": (i % 1000) / 1000, "yes": i % 2 == 0} for i in range(requests)]
    started = time.perf_counter()
    for item, answer in zip(items, answers, strict=True):
        recorder.count([item])
        recorder.count_predictions([answer])
    return (time.perf_counter() - started) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers on one CPU, the load on the others (less noise on a small machine)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per row; medians are printed (default 1)"
    )
    parser.add_argument("--hand", help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="uvloop", help=argparse.SUPPRESS)
    parser.add_argument("--http", default="httptools", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--client-run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hand:
        run_hand(args.hand, args.loop, args.http, args.port_file, args.model)
        return 0
    if args.client_run:
        port, concurrency, duration = args.client_run
        print(json.dumps(python_client(int(port), int(concurrency), float(duration))))
        return 0
    if str(ROOT) not in sys.path:  # the checkout's jupyter_mlops, as the servers import it
        sys.path.insert(0, str(ROOT))
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    levels = [int(c) for c in args.concurrency.split(",")]
    apps = ["ours", "asgi"]
    if importlib.util.find_spec("starlette") is not None:
        apps.append("starlette")
    else:
        print("starlette is not installed: no 'hand Starlette' rows")
    names = {"ours": "ours", "asgi": "hand ASGI", "starlette": "hand Starlette"}
    pinned = _pin() if args.pin else "not pinned"
    print(f"client: {client}; {os.cpu_count()} CPUs, {pinned}; {args.duration:g} s per row, "
          f"{args.repeat} round(s) (medians)")  # fmt: skip
    print("ours serves with monitoring on, as a deployment does: --monitor-dir set, the "
          "default interval (5 s) and sample rate (0.1)")  # fmt: skip
    print(f"{'function':8} {'stack':17} {'app':15} {'conc':>4} {'req/s':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'errors':>6} {'vs hand ASGI':>12}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mlops-bench-serve-") as folder:
        work = Path(folder)
        (work / "bench.ipynb").write_text(json.dumps(NOTEBOOK))
        cases: list[tuple[str, str, str | None, tuple[str, str]]] = [
            ("trivial", "double", None, stack) for stack in STACKS
        ]
        ours_rps: list[float] = []
        model = _train(work)
        if model is None:
            print("scikit-learn is not installed: no 'sklearn' rows")
        else:
            cases.insert(1, ("sklearn", "score", model, STACKS[0]))
        for label, function, model_path, (loop, http) in cases:
            # every app of the case up at once, measured in turn (ours, then the others at the
            # same concurrency), so a machine that drifts during the run shifts them alike
            results: dict[tuple[str, int], list[Any]] = {}
            servers = {}
            try:
                for app in apps:
                    servers[app] = _start(app, function, model_path, loop, http, work)
                for _ in range(args.repeat):
                    for concurrency in levels:
                        for app in apps:
                            row = _measure(
                                servers[app][1], concurrency, args.duration, client, work
                            )
                            results.setdefault((app, concurrency), []).append(row)
            finally:
                for process, _ in servers.values():
                    process.terminate()
                    process.wait(10)
            for concurrency in levels:
                hand = results["asgi", concurrency]
                for app in apps:
                    rows = results[app, concurrency]
                    if app == "ours" and label == "trivial":
                        ours_rps.append(_median(rows, "rps"))
                    # the median of the paired ratios: each round's against the same round's
                    ratio = statistics.median(
                        a["rps"] / b["rps"] for a, b in zip(rows, hand, strict=True)
                    )
                    print(f"{label:8} {loop + '+' + http:17} {names[app]:15} {concurrency:>4} "
                          f"{_median(rows, 'rps'):>9.0f} {_median(rows, 'p50_ms'):>8.2f} "
                          f"{_median(rows, 'p99_ms'):>8.2f} {sum(r['errors'] for r in rows):>6} "
                          f"{ratio:>12.2f}")  # fmt: skip
            _report_monitor(work / "monitor")
    if ours_rps:
        cost = _counting_cost()
        served = 1.0 / max(ours_rps)  # the busiest row: where counting weighs the most
        share = cost / (served + cost)
        print(f"drift counting (20 fields, the prediction): {cost * 1e6:.1f} us a request; "
              "requests/s "
              f"counting off {max(ours_rps):.0f} vs on {1.0 / (served + cost):.0f} "
              f"(ratio {1.0 - share:.3f}, cost {share:.1%}; target <= 5 %)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

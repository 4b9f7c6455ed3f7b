"""One serving process of a deployment: its command line, its start, its health.

The keeper owns the listening socket and hands it to each serving process it starts, so a
new version can start accepting on the same port before the old one stops.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..serve.spec import TOKEN_HASH_ENV
from ..store.deployment_records import Deployment
from ..store.private import open_private_log
from .environment import clean_environment
from .files import DeploymentFiles

START_TIMEOUT = 120.0  # seconds for the setup code and the bound values to load
ERROR_PREFIX = "jupyter_mlops.serve: "


class StartError(Exception):
    """The serving process did not come up; the message says why (from its log)."""


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    version: str
    generation: int
    record: dict[str, Any]

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM (uvicorn finishes the requests in flight), SIGKILL after ``grace``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def command(deployment: Deployment, files: DeploymentFiles, fd: int, version: str) -> list[str]:
    binding = files.load_binding(version) or {}
    options = deployment.options
    args = [
        sys.executable,
        "-m",
        "jupyter_mlops.serve",
        str(files.snapshot(version)),
        deployment.function,
        "--root",
        str(files.root),
        "--name",
        deployment.notebook,
        "--workdir",
        os.path.dirname(deployment.notebook_path),
        "--version",
        version,
        "--fd",
        str(fd),
        "--record",
        str(files.record),
        "--log-file",
        str(files.serve_log),
        "--monitor-dir",
        str(files.monitor),
        "--watch-pid",  # a keeper killed with SIGKILL leaves no unsupervised server
        str(os.getpid()),
    ]
    if binding.get("from_run"):
        args += ["--from", str(binding["from_run"])]
    for option in SERVE_OPTIONS:
        if options.get(option) is not None:
            args += [f"--{option.replace('_', '-')}", str(options[option])]
    if options.get("use_defaults"):
        args.append("--use-defaults")
    return args


# Deployment options passed through to the serving process as --name value.
SERVE_OPTIONS = (
    "workers",
    "threads",
    "timeout",
    "max_body",
    "max_batch",
    "sample_rate",
    "max_samples",
    "monitor_interval",
    "max_concurrency",
    "header_timeout",
)


def start(
    deployment: Deployment,
    files: DeploymentFiles,
    sock: socket.socket,
    version: str,
    token_sha256: str,
    generation: int,
    timeout: float = START_TIMEOUT,
) -> Child:
    """Start a serving process on ``sock`` and wait until it answers ``/health``."""
    files.monitor.mkdir(parents=True, exist_ok=True)
    files.record.unlink(missing_ok=True)
    offset = files.serve_log.stat().st_size if files.serve_log.exists() else 0
    env = clean_environment(
        os.environ,
        **files.project.environ(),  # where the store and artifacts are: never re-guessed
        **{TOKEN_HASH_ENV: token_sha256, "PYTHONUNBUFFERED": "1"},
    )
    log = open_private_log(files.serve_log)
    try:
        process = subprocess.Popen(
            command(deployment, files, sock.fileno(), version),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            pass_fds=(sock.fileno(),),
            env=env,
            cwd=os.path.dirname(deployment.notebook_path) or None,
        )
    finally:
        os.close(log)
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(_failure(files, offset, process.returncode))
        record = _read_record(files, process.pid)
        if record is not None:
            break
        time.sleep(0.05)
    if record is None:
        process.kill()
        process.wait()
        raise StartError(f"the serving process did not start within {timeout:g} s")
    workers = int(deployment.options.get("workers") or 1)
    url = f"http://{_loopback(deployment.host)}:{sock.getsockname()[1]}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(_failure(files, offset, process.returncode))
        answer = health(url)
        # During a redeploy the old process shares the socket and may answer instead; with
        # one worker, wait for the new one itself (with more, the answer is a worker's pid).
        if answer is not None and (answer.get("pid") == process.pid or workers > 1):
            return Child(process, version, generation, record)
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise StartError("the serving process started but never answered /health")


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """``GET /health``; None when it does not answer 200 with a JSON object."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def _loopback(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _read_record(files: DeploymentFiles, pid: int) -> dict[str, Any] | None:
    try:
        record = json.loads(files.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("pid") == pid else None


def _failure(files: DeploymentFiles, offset: int, code: int | None) -> str:
    """Why the process exited: its own one-line error from the log, else the exit code."""
    try:
        with files.serve_log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        text = ""
    for line in reversed(text.splitlines()):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX) :]
    last = [line for line in text.splitlines() if line.strip()][-1:]
    detail = f": {last[0]}" if last else ""
    return f"the serving process exited with code {code}{detail}"

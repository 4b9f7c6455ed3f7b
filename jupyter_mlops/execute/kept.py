"""Zygotes kept warm between commands: where they listen, how to find, start, list and stop them.

A CLI command is short; the zygote it needs (an interpreter with IPython and the notebook's
imports: 1-2 s with numpy, pandas and scikit-learn) is not. With ``keep_warm`` seconds set
(the CLI's default, ``c.MLOps.keep_warm``), the engine asks a zygote listening on a Unix
socket (``kept_zygote``) instead of starting its own, and starts it if nobody has: the next
command forks its runs from it at once. It goes away by itself after ``keep_warm`` idle
seconds.

One socket per *kind* of zygote, named by a hash of everything that decides what a fork of it
contains: the interpreter, the variables that shape ``sys.path``, the warm import set with
the versions and environment behind it (the engine's generation key), the files of this
package, and the modification times of the import path's folders (``pip install`` touches
them). Change any of it, and the command finds no zygote of that name and starts a fresh
one; the stale one idles out. The folder is private (0700, ours, checked), and a lock file per
name keeps two commands from starting the same zygote at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_mlops.errors import ExecutionError
from jupyter_mlops.execute.kept_folder import (
    RUNTIME_DIR_ENV,
    NotPrivateError,
    import_path_stamp,
    locked,
    package_stamp,
    private_folder,
)
from jupyter_mlops.execute.protocol import Message, encode

KEEP_WARM_ENV = "JUPYTER_MLOPS_KEEP_WARM"  # seconds; overrides the setting (tests set 0)
_STATUS_TIMEOUT = 2.0

_keep_warm = 0.0  # off unless a surface asks: a server or a kernel lives long enough itself


def configure(seconds: float) -> None:
    """Keep this process's zygotes warm for ``seconds`` after it (0: no), unless
    ``JUPYTER_MLOPS_KEEP_WARM`` says otherwise."""
    global _keep_warm
    text = os.environ.get(KEEP_WARM_ENV, "").strip()
    try:
        _keep_warm = max(0.0, float(text)) if text else max(0.0, float(seconds))
    except ValueError:
        _keep_warm = max(0.0, float(seconds))


def keep_warm() -> float:
    return _keep_warm


def runtime_dir() -> Path:
    """The private folder of the sockets (``kept_folder.private_folder``)."""
    try:
        return Path(private_folder())
    except NotPrivateError as err:
        raise ExecutionError(
            f"{err}, so no zygote is kept there",
            hint=f"remove it, or set {RUNTIME_DIR_ENV} to one, or keep_warm = 0",
        ) from err


def socket_name(generation: Any) -> str:
    """The name of the zygote a fork of which would hold exactly this ``generation``."""
    described = json.dumps(
        [sys.executable, sys.version, generation, package_stamp(), import_path_stamp()],
        default=repr,
    )
    return hashlib.sha256(described.encode()).hexdigest()[:24]


def connect(
    generation: Any,
    modules: tuple[str, ...],
    env: dict[str, str],
    start_timeout: float,
    limits: tuple[int, int],
) -> tuple[socket.socket, Message]:
    """A connection to the kept zygote of ``generation`` (started now if there is none, or
    only a stale socket file) and its ``ready`` greeting. Starting a warm one stops the
    least recently used idle ones over ``limits`` (how many, how many bytes together)."""
    folder = runtime_dir()
    name = socket_name(generation)
    path = folder / f"{name}.sock"
    with locked(folder / f"{name}.lock"):
        found = _try_connect(path, start_timeout)
        if found is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            _start(path, folder / f"{name}.log", modules, env, start_timeout)
            found = _try_connect(path, start_timeout)
            if found is None:
                raise ExecutionError(f"the kept zygote at {path} does not answer")
            if modules:
                trim(*limits, keep=str(path))
    return found


def _try_connect(path: Path, timeout: float) -> tuple[socket.socket, Message] | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        greeting = _read_line(sock, timeout)
    except (OSError, EOFError, ValueError):
        sock.close()
        return None
    if greeting is None or greeting.get("op") != "ready":
        sock.close()
        return None
    return sock, greeting


def _read_line(sock: socket.socket, timeout: float) -> Message | None:
    """One JSON line, read a byte at a time so nothing after it is taken from the socket."""
    data = bytearray()
    give_up = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([sock], [], [], max(0.0, give_up - time.monotonic()))
        if not ready:
            return None
        byte = sock.recv(1)
        if not byte:
            raise EOFError("closed")
        data += byte
    message = json.loads(data)
    return message if isinstance(message, dict) else None


def _start(
    path: Path, log_path: Path, modules: tuple[str, ...], env: dict[str, str], timeout: float
) -> None:
    """Start a kept zygote on ``path`` and wait until it listens (its ``ready`` line)."""
    command = [sys.executable, "-m", "jupyter_mlops.execute.kept_zygote"]
    command += ["--listen", str(path), "--idle", f"{_keep_warm:g}"]
    if modules:
        command.append("--warm")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            cwd=path.parent,
            start_new_session=True,
        )
    assert process.stdin is not None
    assert process.stdout is not None
    with contextlib.suppress(OSError):
        if modules:  # over the pipe, not argv: the environment may hold secrets
            process.stdin.write(encode({"op": "warm", "modules": list(modules), "env": env}))
        process.stdin.close()
    process.wait(timeout)  # the first process forks the zygote off and exits at once
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else b""
    process.stdout.close()
    if not line.startswith(b'{"op":"ready"'):
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise ExecutionError(
            f"the kept zygote did not start within {timeout:g} s",
            hint=" / ".join(tail) or f"its log is {log_path}",
        )


def _ask(path: Path, request: Message) -> Message | None:
    """One request to the zygote at ``path`` and its answer (None: it does not answer)."""
    found = _try_connect(path, _STATUS_TIMEOUT)
    if found is None:
        return None
    sock, _ = found
    with sock:
        sock.sendall(encode(request))
        with contextlib.suppress(OSError, EOFError, ValueError):
            return _read_line(sock, _STATUS_TIMEOUT)
    return None


def status() -> list[dict[str, Any]]:
    """Every kept zygote of this user that answers: pid, warm modules, memory, runs, idle."""
    found = []
    for path in sorted(runtime_dir().glob("*.sock")):
        answer = _ask(path, {"op": "status"})
        if answer is not None:
            answer.pop("op", None)
            found.append({"socket": str(path), **answer})
    return found


def stop(paths: list[str] | None = None) -> list[dict[str, Any]]:
    """Stop the kept zygotes (all, or those at ``paths``): no new run, gone after the last."""
    stopped = []
    for entry in status():
        if paths is not None and entry["socket"] not in paths:
            continue
        if _ask(Path(entry["socket"]), {"op": "stop"}) is not None:
            stopped.append(entry)
    return stopped


def trim(max_warm: int, max_bytes: int, keep: str) -> list[dict[str, Any]]:
    """Stop the least recently used idle warm zygotes over ``max_warm`` or ``max_bytes``
    (the plain ones, with no warm import, are small and not counted); ``keep`` is spared."""
    warm = [z for z in status() if z.get("modules") and z["socket"] != keep]
    warm.sort(key=lambda z: -float(z.get("idle_seconds") or 0))
    total = sum(int(z.get("memory") or 0) for z in warm)
    over = []
    while warm and (len(warm) + 1 > max_warm or total > max_bytes):
        oldest = warm.pop(0)
        total -= int(oldest.get("memory") or 0)
        if not oldest.get("runs"):
            over.append(oldest["socket"])
    return stop(over) if over else []

"""The ``jupyter-mlops`` console script: ``run`` and ``sweep`` through a warm command host.

A ``run`` or ``sweep`` command is forked from ``cli_host`` (started here if none listens),
which has imported papermill, nbformat and the store already: the command's process wall is
its work, not its imports. Every other command, ``--help``, ``JUPYTER_MLOPS_KEEP_WARM=0``
and any failure to reach a host run ``jupyter_mlops.cli.main`` in this process, as
``python -m jupyter_mlops.cli`` always does. So this module imports almost nothing.

The host is found as a kept zygote is (``execute.kept``): a socket in the same private
folder, named by a hash of what decides what a fork of it contains (the interpreter, the
import path and its folders' modification times, this package's files, the variables
Python reads at start-up and the locale). A project whose ``keep_warm`` is 0 stops the host
after the command, and its next commands run here (a marker per folder says so, until a
command here finds ``keep_warm`` on again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from .execute.kept_folder import (
    NotPrivateError,
    import_path_stamp,
    locked,
    package_stamp,
    private_folder,
)

KEEP_WARM_ENV = "JUPYTER_MLOPS_KEEP_WARM"  # execute.kept's (not imported: it imports more)
DEFAULT_IDLE = 300.0  # project.DEFAULT_KEEP_WARM (checked by a test): not imported, heavy
HOSTED = ("run", "sweep")
# Variables read when the interpreter starts or a module is imported (the locale, PYTHON*,
# the zygote limits of ``execute.zygotes``): a host whose differ would not be this command.
READ_AT_IMPORT = ("PYTHON", "LC_", "LANG", "JUPYTER_MLOPS_WARM_")
START_TIMEOUT = 120.0  # the host imports papermill, nbformat and the store on a loaded machine
ANSWER_TIMEOUT = 10.0
STARTED_TIMEOUT = 30.0  # a host forks at once; one that does not is stuck: the command runs here


class _NoHostError(Exception):
    """The command cannot go through a host; it runs in this process."""


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if _hosted(words):
        try:
            return _through_host(words)
        except _NoHostError as reason:
            if str(reason):
                print(f"warning: {reason}; running in this process", file=sys.stderr)
    return _in_process(words)


def _hosted(words: list[str]) -> bool:
    """Whether the command is ``run`` or ``sweep``, kept warm, and not asking for help."""
    text = os.environ.get(KEEP_WARM_ENV, "").strip()
    try:
        if text and float(text) <= 0:  # as execute.kept.configure reads it
            return False
    except ValueError:
        pass
    return _command(words) in HOSTED and "-h" not in words and "--help" not in words


def _command(words: list[str]) -> str | None:
    """The command word: the first that is not an option, after an optional ``--root DIR``."""
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--root":
            index += 2
        elif word.startswith("--root="):
            index += 1
        else:
            return word
    return None


def _in_process(words: list[str]) -> int:
    from .cli import main as cli_main

    code = cli_main(words)
    kept = sys.modules.get("jupyter_mlops.execute.kept")
    if _command(words) in HOSTED and kept is not None and kept.keep_warm() > 0:
        with contextlib.suppress(OSError, _NoHostError):  # kept warm again: hosts may serve
            os.unlink(_off_marker(words))
    return code


def _through_host(words: list[str]) -> int:
    folder = runtime_dir()
    if os.path.exists(_off_marker(words)):
        raise _NoHostError("")
    path = os.path.join(folder, f"cli-{host_name()}.host")
    sock = _connect_or_start(folder, path)
    with sock:
        request = {
            "op": "command",
            "argv": words,
            "argv0": sys.argv[0],
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "umask": _umask(),
            "sys_path0": sys.path[0] if sys.path else "",
            "limits": _limits(),
        }
        try:
            socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], _stdio_fds())
        except OSError as err:
            raise _NoHostError("") from err
        return _wait(sock, words)


def _wait(sock: socket.socket, words: list[str]) -> int:
    """Forward SIGINT and SIGTERM to the command; its exit code once it ends."""
    child = [0]
    caught: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        if not child[0]:  # each signal is forwarded once: here, or after the pid is known
            caught.append(signum)
            return
        with contextlib.suppress(OSError):
            os.kill(child[0], signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ready, _, _ = select.select([sock], [], [], STARTED_TIMEOUT)
        reader = sock.makefile("rb")
        started = _line(reader) if ready else None
        if started is None or started.get("op") != "started":
            raise _NoHostError("")  # refused, or gone before it forked: nothing ran
        child[0] = int(started["pid"])
        for signum in caught:  # those that came before the pid; later ones go at once
            with contextlib.suppress(OSError):
                os.kill(child[0], signum)
        ended = _line(reader)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if ended is None or ended.get("op") != "exit":
        print(
            "error: the command host went away; the command's exit code is unknown", file=sys.stderr
        )
        return 1
    if ended.get("keep_warm") == 0:  # the project keeps nothing warm: its next commands here
        with contextlib.suppress(OSError):
            open(_off_marker(words), "w").close()
    return int(ended["code"])


def _line(reader: Any) -> dict[str, Any] | None:
    try:
        data = reader.readline()
        message = json.loads(data) if data else None
    except (OSError, ValueError):
        return None
    return message if isinstance(message, dict) else None


def _stdio_fds() -> list[int]:
    """fds 0, 1 and 2, with /dev/null for any that is closed."""
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            fds.append(os.open(os.devnull, os.O_RDWR))
    return fds


def _limits() -> dict[str, list[int]]:
    """This process's resource limits (``ulimit``): the command gets them, not the host's."""
    import resource

    limits = {}
    for name in dir(resource):
        if name.startswith("RLIMIT_"):
            with contextlib.suppress(OSError, ValueError):
                limits[name] = list(resource.getrlimit(getattr(resource, name)))
    return limits


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


# -- where the host listens: in the kept zygotes' folder, named by the same stamps ---------


def runtime_dir() -> str:
    """The private folder of the sockets, the kept zygotes' (``execute.kept_folder``)."""
    try:
        return private_folder()
    except OSError as err:  # not private: said once; cannot be made: the command runs here
        raise _NoHostError(str(err) if isinstance(err, NotPrivateError) else "") from err


def host_name() -> str:
    """The name of the host whose forks would be this command's process."""
    startup = sorted((k, v) for k, v in os.environ.items() if k.startswith(READ_AT_IMPORT))
    described = json.dumps(
        [
            sys.executable,
            sys.version,
            list(sys.flags),
            package_stamp(),
            import_path_stamp(),
            startup,
        ]
    )
    return hashlib.sha256(described.encode()).hexdigest()[:24]


def _off_marker(words: list[str]) -> str:
    """The file that says this folder's project keeps nothing warm (``keep_warm = 0``)."""
    root = ""
    for index, word in enumerate(words):
        if word == "--root" and index + 1 < len(words):
            root = words[index + 1]
        elif word.startswith("--root="):
            root = word.split("=", 1)[1]
    where = json.dumps([os.getcwd(), root])
    return os.path.join(runtime_dir(), f"cli-off-{hashlib.sha256(where.encode()).hexdigest()[:16]}")


def _connect_or_start(folder: str, path: str) -> socket.socket:
    try:  # the usual case first, without the lock
        return _connect(path)
    except OSError:
        pass
    with locked(path[: -len(".host")] + ".lock"):
        try:
            return _connect(path)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a stale socket: its host was killed
        _start(folder, path)
        try:
            return _connect(path)
        except OSError as err:
            raise _NoHostError("") from err


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def _start(folder: str, path: str) -> None:
    """Start a host on ``path`` and wait until it listens (its ``ready`` line)."""
    import subprocess

    idle = os.environ.get(KEEP_WARM_ENV, "").strip()
    try:
        seconds = max(0.0, float(idle)) if idle else DEFAULT_IDLE
    except ValueError:
        seconds = DEFAULT_IDLE
    flags = getattr(subprocess, "_args_from_interpreter_flags")()  # noqa: B009 (-O, -X dev...)
    command = [sys.executable, *flags, "-m", "jupyter_mlops.cli_host", "--listen", path]
    with open(path[: -len(".host")] + ".log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--idle", f"{seconds:g}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=folder,
            start_new_session=True,
        )
    assert process.stdout is not None
    with process.stdout:
        process.wait(START_TIMEOUT)  # the first process forks the host off and exits at once
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        line = process.stdout.readline() if ready else b""
    if not line.startswith(b'{"op": "ready"'):
        raise _NoHostError("")


def hosts(op: str = "status") -> list[dict[str, Any]]:
    """Every command host of this user that answers ``op`` (``status`` or ``stop``)."""
    try:
        folder = runtime_dir()
    except _NoHostError:
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("cli-") and name.endswith(".host"):
            answer = ask(os.path.join(folder, name), op)
            if answer is not None:
                answer.pop("op", None)
                found.append({"socket": os.path.join(folder, name), **answer})
    return found


def ask(path: str, op: str) -> dict[str, Any] | None:
    """``status`` or ``stop`` to the host at ``path`` (None: it does not answer)."""
    try:
        sock = _connect(path)
    except OSError:
        return None
    with sock:
        sock.sendall(json.dumps({"op": op}).encode() + b"\n")
        ready, _, _ = select.select([sock], [], [], ANSWER_TIMEOUT)
        return _line(sock.makefile("rb")) if ready else None


if __name__ == "__main__":
    sys.exit(main())

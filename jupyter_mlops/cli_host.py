"""The command host: a warm CLI process that ``jupyter mlops run`` and ``sweep`` fork from.

Run as ``python -m jupyter_mlops.cli_host --listen PATH --idle SECONDS`` by ``cli_client``
(the ``jupyter-mlops`` console script), which reads one ``ready`` line from its stdout once
it listens.

A tracked run of a tiny notebook takes ~0.1 s, and its command ~1 s: the rest is the CLI
process importing papermill, nbformat, SQLAlchemy and the store before it does anything.
The zygote the runs fork from is kept warm between commands already (``execute.kept``);
this keeps the command itself warm the same way (nailgun-style). The host imports what a
run or sweep imports, once, then serves: each connection is one command, and each command
is its own fork, with the client's fd 0, 1 and 2 (sent over the socket, ``SCM_RIGHTS``),
environment, working folder, umask and arguments, calling ``jupyter_mlops.cli.main`` as the
command would in its own process. Nothing one command does is seen by the next: it dies
with its fork.

Wire (JSON lines): client → host ``{"op": "command", "argv", "argv0", "env", "cwd",
"umask", "sys_path0"}`` with the 3 fds, or ``status``, or ``stop``; host → client
``started`` (the command's pid, to which the client forwards its SIGINT and SIGTERM), then
``exit`` with the code and the ``keep_warm`` the command's project asked for. A client that
goes away before ``exit`` (killed) gets its command interrupted (SIGINT: a run is cancelled
and recorded as on Ctrl-C), then killed 5 s later.

The host stays single-threaded (a fork of a threaded process may hold a lock forever); if
an import started a thread, it forks nothing and answers each command ``refused`` (the
client runs it in its own process) until it idles out. Only processes of the same user may connect
(``SO_PEERCRED``). It stops when idle for ``--idle`` seconds (then for the ``keep_warm``
the last command's project asked for), when asked, when a command's project says
``keep_warm = 0``, or when its socket file is removed or replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .execute.kept_folder import OwnSocket

# What a run or sweep imports (``python -X importtime -m jupyter_mlops.cli run nb.ipynb``):
# these pull in the rest (nbformat, jsonschema, SQLAlchemy, jupyter_client, zmq...).
WARM_MODULES = (
    "jupyter_mlops.cli",
    "jupyter_mlops.service",
    "jupyter_mlops.service_executors",
    "jupyter_mlops.executor_choice",
    "jupyter_mlops.store",
    "jupyter_mlops.store.models",
    "jupyter_mlops.execute.runner",
    "jupyter_mlops.execute.launch",
    "jupyter_mlops.execute.engine",
    "jupyter_mlops.execute.foreground",
    "jupyter_mlops.execute.prestart",
    "jupyter_mlops.execute.warm",
    "jupyter_mlops.execute.zygotes",
    "jupyter_mlops.execute.executors",
    "jupyter_mlops.execute.kernels",
    "jupyter_mlops.execute.kernelspecs",
    "jupyter_mlops.execute.prepare",
    "jupyter_mlops.notebook.repair",
    "jupyter_mlops.paths",
    "sqlite3",
    "sqlalchemy.dialects.sqlite",  # the default store's
    "ipykernel.kernelspec",
    "papermill",
    "papermill.execute",
    "nbformat",
    "nbclient",
    "jupyter_client",
)
log = logging.getLogger(__name__)
KILL_AFTER = 5.0  # seconds between the SIGINT of a left command and its SIGKILL
MAX_REQUEST = 1 << 20


@dataclass
class _Connection:
    """One client: its request as it arrives, then the command it runs."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    fds: list[int] = field(default_factory=list)
    pid: int = 0
    report: int = -1  # read end of the pipe on which the command says its keep_warm
    left_at: float | None = None  # when the client went away with its command running


def warm_up() -> None:
    """Import what a command will, in the order it does (the slow-import stand-ins first),
    and do the one-time work that does not depend on the command (the ORM's mappers)."""
    from .lazy_modules import defer_slow_imports

    defer_slow_imports()
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as err:  # the command imports it itself, or reports it missing
            log.info("the command host could not import %s: %s", name, err)
    from sqlalchemy.orm import configure_mappers

    configure_mappers()


class CommandHost:
    """The forking server of commands on a listening socket, with an idle timeout."""

    def __init__(self, path: str, idle: float, threads: list[str]) -> None:
        self.path = path
        self.threads = threads  # started by an import: this host forks nothing
        self.idle = idle
        self.listener = OwnSocket(path)
        self.connections: dict[int, _Connection] = {}
        self.stopping = False
        self.idle_since = time.monotonic()
        self.wake_read, self.wake_write = os.pipe()

    def serve(self) -> None:
        os.set_blocking(self.wake_write, False)
        os.set_blocking(self.wake_read, False)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        while True:
            # Not a client that went away: its socket reads as ended until its command does.
            clients = [fd for fd, conn in self.connections.items() if conn.left_at is None]
            watched = [self.listener.fileno(), self.wake_read, *clients]
            ready, _, _ = select.select(watched, [], [], 1.0)
            if self.wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wake_read, 4096)
            self._reap()
            if self.listener.fileno() in ready and not self.stopping:
                self._accept()
            for fd in [fd for fd in ready if fd in self.connections]:
                self._receive(self.connections[fd])
            self._kill_overdue()
            if self.connections:
                self.idle_since = time.monotonic()
            elif self._should_go():
                break
        self.listener.unlink()

    def _should_go(self) -> bool:
        return (
            self.stopping
            or time.monotonic() - self.idle_since >= self.idle
            or not self.listener.is_ours()
        )

    def _accept(self) -> None:
        sock = self.listener.accept_same_user()
        if sock is None:
            return
        self.connections[sock.fileno()] = _Connection(sock)

    def _receive(self, conn: _Connection) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn.sock, 1 << 16, 3)
        except OSError:
            data, fds = b"", []
        conn.fds += fds
        if not data:
            self._left(conn)
            return
        if conn.pid:
            return  # nothing more is expected from a client whose command runs
        conn.buffer += data
        end = conn.buffer.find(b"\n")
        if end < 0:
            if len(conn.buffer) > MAX_REQUEST:
                self._close(conn)
            return
        try:
            request = json.loads(bytes(conn.buffer[:end]))
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._close(conn)
        elif request.get("op") == "command" and self.threads:
            self._reply(conn, {"op": "refused", "threads": self.threads})
            self._close(conn)
        elif request.get("op") == "command" and len(conn.fds) == 3:
            self._fork(conn, request)
        elif request.get("op") == "status":
            self._reply(conn, {"op": "status", **self.status()})
            self._close(conn)
        elif request.get("op") == "stop":
            self.stopping = True
            self.listener.unlink()
            self._reply(conn, {"op": "stopping", **self.status()})
            self._close(conn)
        else:
            self._close(conn)

    def running(self) -> int:
        return sum(1 for c in self.connections.values() if c.pid)

    def status(self) -> dict[str, Any]:
        from .execute.protocol import memory_of

        return {
            "pid": os.getpid(),
            "memory": memory_of(os.getpid()),
            "commands": self.running(),
            "threads": self.threads,
            "idle_seconds": round(time.monotonic() - self.idle_since, 1),
            "idle_limit": self.idle,
        }

    def _fork(self, conn: _Connection, request: dict[str, Any]) -> None:
        report_read, report_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(report_read)
            fds = conn.fds
            self._leave_in_child(conn)
            run_command(request, fds, report_write)
        os.close(report_write)
        for fd in conn.fds:
            os.close(fd)
        conn.fds = []
        conn.pid = pid
        conn.report = report_read
        self._reply(conn, {"op": "started", "pid": pid})

    def _leave_in_child(self, own: _Connection) -> None:
        """What of the host a command must not hold: the other clients, the listener, the
        host's signal handling. It keeps its own client's connection open (and never uses
        it) until it exits: should the host die first, the client still waits for it."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for conn in self.connections.values():
            if conn is not own:
                conn.sock.close()
            if conn.report >= 0:
                os.close(conn.report)
        self.listener.close()
        for fd in (self.wake_read, self.wake_write):
            os.close(fd)

    def _reap(self) -> None:
        for conn in [c for c in self.connections.values() if c.pid]:
            try:
                done, status = os.waitpid(conn.pid, os.WNOHANG)
            except ChildProcessError:
                done, status = conn.pid, 1 << 8
            if not done:
                continue
            code = os.waitstatus_to_exitcode(status)
            keep_warm = self._read_report(conn)
            if keep_warm is not None:
                if keep_warm <= 0:
                    self.stopping = True
                    self.listener.unlink()
                else:
                    self.idle = keep_warm
            exit_code = code if code >= 0 else 128 - code  # killed by a signal: as a shell says
            self._reply(conn, {"op": "exit", "code": exit_code, "keep_warm": keep_warm})
            self._close(conn)

    @staticmethod
    def _read_report(conn: _Connection) -> float | None:
        try:
            text = os.read(conn.report, 256).decode()
            return float(json.loads(text)["keep_warm"]) if text else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _left(self, conn: _Connection) -> None:
        """The client went away: a command still running is interrupted, then killed."""
        if not conn.pid:
            self._close(conn)
        elif conn.left_at is None:
            conn.left_at = time.monotonic()
            with contextlib.suppress(OSError):
                os.kill(conn.pid, signal.SIGINT)

    def _kill_overdue(self) -> None:
        for conn in self.connections.values():
            if conn.left_at is not None and time.monotonic() - conn.left_at >= KILL_AFTER:
                with contextlib.suppress(OSError):
                    os.kill(conn.pid, signal.SIGKILL)

    def _reply(self, conn: _Connection, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            conn.sock.sendall(json.dumps(message).encode() + b"\n")

    def _close(self, conn: _Connection) -> None:
        self.connections.pop(conn.sock.fileno(), None)
        conn.sock.close()
        for fd in conn.fds:
            os.close(fd)
        conn.fds = []
        if conn.report >= 0:
            os.close(conn.report)
            conn.report = -1


def run_command(request: dict[str, Any], fds: list[int], report: int) -> NoReturn:
    """In the fork: become the client's command process, run the CLI, and exit with its code."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    _fresh_stdio()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
    code = 1
    try:
        os.chdir(str(request["cwd"]))
        os.umask(int(request["umask"]))
        time.tzset()  # TZ as the command's: read at start-up, and the host's was another's
        _set_limits(dict(request.get("limits") or {}))
        argv = [str(word) for word in request["argv"]]
        sys.argv = [str(request["argv0"]), *argv]
        sys.path[0] = str(request["sys_path0"])
        from .cli import main

        code = _exit_code(main(argv))
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except KeyboardInterrupt:  # as Python itself ends on an uncaught Ctrl-C
        traceback.print_exc()
        code = 128 + signal.SIGINT
    except BaseException:  # as Python itself ends on an uncaught exception
        traceback.print_exc()
    _finish(report)
    os._exit(code)


def _set_limits(limits: dict[str, list[int]]) -> None:
    """The client's resource limits (``ulimit``), as far as this process may set them (a
    hard limit above the host's cannot be raised again)."""
    import resource

    for name, (soft, hard) in limits.items():
        which = getattr(resource, name, None)
        if isinstance(which, int):
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(which, (soft, hard))


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)  # sys.exit("message"), as the interpreter does it
    return 1


def _fresh_stdio() -> None:
    """sys.stdin, stdout and stderr anew on fds 0, 1 and 2 (the host's were its own), with
    the buffering an interpreter started on them would choose."""
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    streams = {
        "stdin": open(0, encoding=encoding, closefd=False),  # noqa: SIM115
        "stdout": open(  # noqa: SIM115
            1, "w", buffering=1 if os.isatty(1) else -1, encoding=encoding, closefd=False
        ),
        "stderr": open(  # noqa: SIM115
            2, "w", buffering=1, encoding=encoding, errors="backslashreplace", closefd=False
        ),
    }
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)  # what code that wants the original one reads


def _finish(report: int) -> None:
    """What an interpreter does on its way out: wait for non-daemon threads, run atexit
    handlers, flush; and tell the host the ``keep_warm`` this command's project asked for."""
    with contextlib.suppress(Exception):
        getattr(threading, "_shutdown")()  # noqa: B009 (joins what a normal exit joins)
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    kept = sys.modules.get("jupyter_mlops.execute.kept")
    if kept is not None:
        with contextlib.suppress(OSError):
            os.write(report, json.dumps({"keep_warm": kept.keep_warm()}).encode())
    os.close(report)


def _detach() -> None:
    """Fork once: the starter's process exits at once (it waits for it), the host goes on in
    a session of its own, a child of nobody who will wait for it."""
    if os.fork() != 0:
        os._exit(0)
    os.setsid()


def main() -> None:
    arguments = sys.argv[1:]
    path = arguments[arguments.index("--listen") + 1]
    idle = float(arguments[arguments.index("--idle") + 1])
    _detach()
    warm_up()
    # A fork of a threaded process may hold a lock forever. Such a host stays, refusing, so
    # the next commands run in their own process at once instead of starting it again.
    threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    host = CommandHost(path, idle, threads)
    print(json.dumps({"op": "ready", "pid": os.getpid()}), flush=True)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # the starter's pipe: it stops reading after the ready line
    os.close(null)
    host.serve()


if __name__ == "__main__":
    main()

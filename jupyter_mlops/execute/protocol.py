"""The wire between the engine, the zygote and a run's child: JSON lines, never pickle.

Every message is one JSON object on one line. Over the zygote's pipes (engine → zygote:
``warm``, first and only for a generation with warm imports, then ``run``; zygote → engine:
``ready``, with what it warmed, then ``started``, ``failed``, ``exited``) and over a run's
AF_UNIX socket (engine → child: ``execute``, ``collect``, ``save``, ``exit``; child →
engine: ``hello``, ``execute_input``, ``output``, ``display``, ``clear_output``, ``done``,
``reply``). JSON keeps a compromised or buggy child from running code in the engine, which
unpickling would allow.

Also here: killing a process tree, which both the engine (cancel, timeouts) and the zygote
(cleanup after a run's child ends) need, and ``RunSession``, one run as the engine drives it.
The zygote processes themselves are started and kept by ``zygotes``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import logging
import os
import queue
import select
import signal
import socket
import struct
import time
import uuid
from typing import TYPE_CHECKING, Any

from jupyter_mlops.errors import ExecutionError

if TYPE_CHECKING:
    from jupyter_mlops.execute.zygotes import ZygoteHandle

log = logging.getLogger(__name__)

Message = dict[str, Any]


def _json_default(value: object) -> object:
    """Encode what IPython formatters may hand us the way jupyter_client's session would."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return list(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    return repr(value)


def encode(message: Message) -> bytes:
    """One message as one line of UTF-8 JSON."""
    text = json.dumps(message, default=_json_default, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until everything is written (pipes and sockets take partial writes)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LineReader:
    """Reads JSON-lines messages from a file descriptor, with a timeout per call."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._lines: list[bytes] = []

    def _split(self) -> None:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return
            self._lines.append(bytes(self._buffer[:end]))
            del self._buffer[: end + 1]

    def read(self, timeout: float | None) -> Message | None:
        """The next message; ``None`` when ``timeout`` passed first; ``EOFError`` at the end."""
        while not self._lines:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return None
            try:
                chunk = os.read(self.fd, 1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError("the other side closed the connection")
            self._buffer += chunk
            self._split()
        message = json.loads(self._lines.pop(0))
        if not isinstance(message, dict):
            raise ValueError("protocol message is not a JSON object")
        return message


def _children_map() -> dict[int, list[int]]:
    """ppid → pids of every process we can see, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces or parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """All living descendants of ``pid`` (children first), as /proc shows them now."""
    children = _children_map()
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int, *, include_root: bool = True) -> None:
    """SIGKILL ``pid``, its process group and every descendant, even those in other sessions.

    Descendants are stopped first so none can fork between the scan and the kill; ``!cmd``
    runs under pexpect in a session of its own, which killing the group alone would miss.
    """
    seen: set[int] = set()
    for _ in range(3):
        found = [p for p in descendants(pid) if p not in seen]
        if not found:
            break
        for child in found:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGSTOP)
        seen.update(found)
    if include_root:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for child in seen:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)


def memory_of(pid: int) -> int | None:
    """Memory of ``pid`` in bytes: proportional set size (shared pages divided among the
    processes sharing them) where Linux gives it, else resident set size."""
    for path, name in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as handle:
                for line in handle:
                    if line.startswith(name):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return None


class RunStoppedError(Exception):
    """A run ended by the engine or by its child's death; becomes the cell's error output."""

    def __init__(self, ename: str, evalue: str, *, shown: bool = False) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.ename = ename
        self.evalue = evalue
        self.shown = shown  # the kernel already gave the cell its error output
        self.cell: int | None = None  # the cell it stopped in, once the engine knows


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class RunSession:
    """One run's child, as the engine drives it: start, execute cells, ask, stop."""

    POLL = 0.25  # how often limits and cancellation are checked while a cell runs
    INTERRUPT_GRACE = 2.0  # how long a timed-out cell has to answer its KeyboardInterrupt

    def __init__(self, zygote: ZygoteHandle, control: Any, start_timeout: float) -> None:
        self.zygote = zygote
        self.control = control
        self.start_timeout = start_timeout
        self.run_id = uuid.uuid4().hex[:16]
        self.pid: int | None = None
        self.conn: socket.socket | None = None
        self.reader: LineReader | None = None
        self.events: queue.Queue[Message] | None = None
        self.exit_code: int | None = None
        self._exited = False

    def start(self, cwd: str, env: dict[str, str]) -> None:
        if self.control.cancelled:
            raise RunStoppedError("RunCancelled", "the run was cancelled before it started")
        path = os.path.join(self.zygote.directory, f"{self.run_id}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            request = {"op": "run", "id": self.run_id, "socket": path, "cwd": cwd, "env": env}
            self.events = self.zygote.spawn(self.run_id, request)
            give_up = time.monotonic() + self.start_timeout
            started = self._event(give_up)
            if started.get("op") != "started":
                raise ExecutionError(f"the mlops zygote could not start a run: {started}")
            self.pid = int(started["pid"])
            self.control.attach(self.pid)
            self.conn = self._accept(listener, give_up)
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.reader = LineReader(self.conn.fileno())
        hello = self.reader.read(max(0.0, give_up - time.monotonic()))
        if hello is None or hello.get("op") != "hello":
            raise ExecutionError("the run's kernel process did not say hello in time")
        if hello.get("error"):
            raise ExecutionError(str(hello["error"]))

    def _event(self, give_up: float) -> Message:
        assert self.events is not None
        try:
            event = self.events.get(timeout=max(0.0, give_up - time.monotonic()))
        except queue.Empty:
            raise ExecutionError("the mlops zygote did not answer in time") from None
        if event.get("op") == "exited":
            self._exited = True
            self.exit_code = int(event["code"])
        return event

    def _accept(self, listener: socket.socket, give_up: float) -> socket.socket:
        while time.monotonic() < give_up:
            ready, _, _ = select.select([listener], [], [], 0.1)
            if ready:
                conn, _ = listener.accept()
                pid, _uid, _gid = struct.unpack(
                    "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                )
                if pid == self.pid:
                    return conn
                conn.close()  # not our child: ignore it
                continue
            if self.control.cancelled:
                raise RunStoppedError("RunCancelled", "the run was cancelled before it started")
            assert self.events is not None
            if not self.events.empty() and self._event(give_up).get("op") == "exited":
                raise ExecutionError(
                    f"the run's kernel process ended before it connected "
                    f"({_describe_exit(self.exit_code)})"
                )
        raise ExecutionError(f"the run's kernel process did not connect in {self.start_timeout} s")

    def _send(self, message: Message) -> None:
        assert self.conn is not None
        self.conn.sendall(encode(message))

    def execute(self, source: str, timeout: float | None, handle: Any, index: int) -> Message:
        """Run one cell; every message before ``done`` goes to ``handle``."""
        cell_deadline = time.monotonic() + timeout if timeout else None
        try:
            self._send({"op": "execute", "source": source})
        except OSError:
            raise self._died(index) from None
        assert self.reader is not None
        while True:
            self._check_limits(index)
            if cell_deadline is not None and time.monotonic() >= cell_deadline:
                shown = self._interrupt(handle)
                stopped = self._stop(
                    "CellTimeoutError", f"cell {index} timed out after {timeout:g} seconds"
                )
                stopped.shown = shown
                raise stopped
            wait = self.POLL
            now = time.monotonic()
            for deadline in (cell_deadline, self.control.deadline):
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - now))
            try:
                message = self.reader.read(wait)
            except (EOFError, OSError):
                raise self._died(index) from None
            if message is None:
                continue
            if message.get("op") == "done":
                return message
            handle(message)

    def _check_limits(self, index: int) -> None:
        if self.control.cancelled:
            raise self._stop("RunCancelled", f"the run was cancelled during cell {index}")
        deadline = self.control.deadline
        if deadline is not None and time.monotonic() >= deadline:
            raise self._stop("RunTimeout", f"the run's deadline passed during cell {index}")

    def _interrupt(self, handle: Any) -> bool:
        """A cell out of time is interrupted first, as nbclient does with a kernel, so its
        ``KeyboardInterrupt`` (and what it printed) becomes the cell's output; True if the
        kernel answered with its error within ``INTERRUPT_GRACE`` seconds."""
        if self.pid is None or self.reader is None:
            return False
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGINT)
        give_up = time.monotonic() + self.INTERRUPT_GRACE
        while (left := give_up - time.monotonic()) > 0:
            try:
                message = self.reader.read(min(left, self.POLL))
            except (EOFError, OSError):
                return False
            if message is None:
                continue
            if message.get("op") == "done":
                return message.get("status") == "error"
            handle(message)
        return False

    def _stop(self, ename: str, evalue: str) -> RunStoppedError:
        """Kill the child's whole tree and wait until the zygote cleaned up after it."""
        if self.pid is not None:
            kill_tree(self.pid)
        self._wait_exited()
        return RunStoppedError(ename, evalue)

    def _died(self, index: int) -> RunStoppedError:
        if self.control.cancelled:
            return self._stop("RunCancelled", f"the run was cancelled during cell {index}")
        self._wait_exited()
        if self.pid is not None:
            kill_tree(self.pid)  # only the connection broke? then it dies now
        return RunStoppedError(
            "DeadKernelError",
            f"the kernel died while executing cell {index} ({_describe_exit(self.exit_code)})",
        )

    def _wait_exited(self, seconds: float = 3.0) -> None:
        give_up = time.monotonic() + seconds
        with contextlib.suppress(ExecutionError):
            while not self._exited and time.monotonic() < give_up:
                if self._event(give_up).get("op") == "zygote_died":
                    return

    def request(self, message: Message) -> Message:
        """Ask the child something after the cells ran (metrics, saving values)."""
        try:
            self._send(message)
            assert self.reader is not None
            while True:
                answer = self.reader.read(None)
                if answer is None or answer.get("op") == "reply":
                    return answer or {}
                if answer.get("op") == "output":
                    log.info("%s", answer["output"].get("text", answer["output"]).rstrip())
        except (EOFError, OSError):
            raise ExecutionError("the run's kernel process died after the last cell") from None

    def close(self) -> None:
        """Let the child run its atexit handlers and go; the zygote reaps it."""
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self._send({"op": "exit"})
            self.conn.close()
            self.conn = None
        self.control.detach()
        self.zygote.forget(self.run_id)

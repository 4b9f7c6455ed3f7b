"""The wire between the engine, the zygote and a run's child: JSON lines, never pickle.

Every message is one JSON object on one line. Over the zygote's pipes (engine → zygote:
``run``; zygote → engine: ``ready``, ``started``, ``failed``, ``exited``) and over a run's
AF_UNIX socket (engine → child: ``execute``, ``collect``, ``save``, ``exit``; child →
engine: ``hello``, ``execute_input``, ``output``, ``display``, ``clear_output``, ``done``,
``reply``). JSON keeps a compromised or buggy child from running code in the engine, which
unpickling would allow.

Also here: killing a process tree, which both the engine (cancel, timeouts) and the zygote
(cleanup after a run's child ends) need.
"""

from __future__ import annotations

import atexit
import base64
import collections
import contextlib
import datetime
import json
import logging
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from jupyter_mlops.errors import ExecutionError

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


class RunStoppedError(Exception):
    """A run ended by the engine or by its child's death; becomes the cell's error output."""

    def __init__(self, ename: str, evalue: str, *, shown: bool = False) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.ename = ename
        self.evalue = evalue
        self.shown = shown  # the kernel already gave the cell its error output
        self.cell: int | None = None  # the cell it stopped in, once the engine knows


class ZygoteHandle:
    """The engine's side of one zygote process: start it, ask for forks, hear of exits."""

    def __init__(
        self,
        start_timeout: float,
        modules: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.owner = os.getpid()
        self.path_environment = _path_environment()
        self.directory = tempfile.mkdtemp(prefix="mlops-zygote-")  # 0700: only we connect
        self.alive = True
        self.modules = modules
        # What the zygote reports after its warm imports: "modules" it imported, "skipped"
        # (name -> why not) and "unsafe" (top-level name -> the thread it started).
        self.warm: dict[str, Any] = {"modules": [], "skipped": {}, "unsafe": {}}
        self.last_used = time.monotonic()
        self.retiring = False
        self._closed = False
        self._lock = threading.Lock()
        self._waiters: dict[str, queue.Queue[Message]] = {}
        self._ready = threading.Event()
        command = [sys.executable, "-m", "jupyter_mlops.execute.zygote"]
        self.process = subprocess.Popen(
            [*command, "--warm"] if modules else command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.directory,
            start_new_session=True,
        )
        self._threads = [
            threading.Thread(target=target, name="mlops-zygote", daemon=True)
            for target in (self._read_events, self._read_stderr)
        ]
        for thread in self._threads:
            thread.start()
        if modules:
            # Over the pipe, not argv: the environment may hold secrets, and argv is public.
            self._write({"op": "warm", "modules": list(modules), "env": env or {}})
        if not self._ready.wait(start_timeout) or not self.alive:
            self.close()
            raise ExecutionError(
                f"the mlops zygote process did not start within {start_timeout:g} s",
                hint="its stderr is in this process's log; try papermill's default engine",
            )

    def _read_events(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("mlops zygote sent a line that is not JSON: %r", line[:200])
                continue
            if message.get("op") == "ready":
                self.warm.update(message.get("warm") or {})
                self._ready.set()
                continue
            with self._lock:
                waiter = self._waiters.get(str(message.get("id")))
            if waiter is not None:
                waiter.put(message)
        with self._lock:
            self.alive = False
            waiters = list(self._waiters.values())
        self._ready.set()
        for waiter in waiters:
            waiter.put({"op": "zygote_died"})

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            log.warning("%s", line.decode("utf-8", "replace").rstrip())

    def spawn(self, run_id: str, request: Message) -> queue.Queue[Message]:
        """Ask for a fork; the queue then receives ``started``/``failed`` and ``exited``."""
        events: queue.Queue[Message] = queue.Queue()
        with self._lock:
            self._waiters[run_id] = events
            self.last_used = time.monotonic()
            if not self._write(request):
                self.alive = False
                events.put({"op": "zygote_died"})
        return events

    def _write(self, message: Message) -> bool:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(encode(message))
            self.process.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._waiters.pop(run_id, None)
            idle = self.retiring and not self._waiters
        if idle:
            self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def runs(self) -> int:
        """Runs forked from this zygote that the engine still drives."""
        with self._lock:
            return len(self._waiters)

    def retire(self) -> None:
        """No new runs: close now if idle, else when its last run is forgotten."""
        with self._lock:
            self.retiring = True
            idle = not self._waiters
        if idle:
            self.close()

    def memory(self) -> int | None:
        """The zygote's own memory in bytes: proportional set size (shared pages divided
        among the processes sharing them) where Linux gives it, else resident set size."""
        for path, field in (
            (f"/proc/{self.process.pid}/smaps_rollup", "Pss:"),
            (f"/proc/{self.process.pid}/status", "VmRSS:"),
        ):
            try:
                with open(path) as handle:
                    for line in handle:
                        if line.startswith(field):
                            return int(line.split()[1]) * 1024
            except (OSError, ValueError, IndexError):
                continue
        return None

    def close(self) -> None:
        """Closing its stdin makes the zygote kill its runs and exit."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(2)
        for thread in self._threads:
            thread.join(1)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self.directory, ignore_errors=True)


_zygote_lock = threading.Lock()
_zygote: ZygoteHandle | None = None  # the one that served the latest request
_generations: collections.OrderedDict[tuple[Any, ...], ZygoteHandle] = collections.OrderedDict()
_abandoned: list[ZygoteHandle] = []

# Top-level modules a zygote saw start a thread at import, with that reason: never warmed
# again in this process (the generation that imported one is discarded).
UNSAFE_MODULES: dict[str, str] = {}

# How many warm generations a long-lived process keeps, and how much memory they may hold
# together (the plain zygote, with no warm imports, is always kept and not counted).
MAX_GENERATIONS = int(os.environ.get("JUPYTER_MLOPS_WARM_GENERATIONS", "4"))
MAX_GENERATION_BYTES = int(os.environ.get("JUPYTER_MLOPS_WARM_MEMORY_MB", "2048")) << 20


# What decides the interpreter's sys.path at start: a zygote started under other values
# would give runs another sys.path than a kernel started now (pytest-jupyter sets PYTHONPATH).
_PATH_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONSAFEPATH")


def _path_environment() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in _PATH_ENV)


def get_zygote(
    start_timeout: float,
    modules: tuple[str, ...] = (),
    key: str = "",
    env: dict[str, str] | None = None,
) -> ZygoteHandle:
    """This process's zygote for runs that import ``modules`` (a generation that imported
    them; ``key`` names the import set, the versions behind it and the environment ``env``
    the imports see), started (again) if there is none, it died, or the variables that shape
    sys.path changed since it started (the old one keeps its runs until they end).

    A generation that saw a module start a thread at import is discarded: it is returned
    closed, with ``warm["unsafe"]`` set, and the module goes to ``UNSAFE_MODULES``; the
    caller then asks again without it.
    """
    global _zygote
    with _zygote_lock:
        handle = _generation(start_timeout, modules, key, env)
        unsafe = {str(k): str(v) for k, v in dict(handle.warm.get("unsafe") or {}).items()}
        if unsafe:
            UNSAFE_MODULES.update(unsafe)
            _generations.pop(_generation_key(key), None)
            handle.close()
            return handle
        _zygote = handle
        return handle


def _generation_key(key: str) -> tuple[Any, ...]:
    return (_path_environment(), key)


def _generation(
    start_timeout: float, modules: tuple[str, ...], key: str, env: dict[str, str] | None
) -> ZygoteHandle:
    for old_key, old in list(_generations.items()):
        stale = old.owner != os.getpid() or old.path_environment != _path_environment()
        if stale or not old.alive:
            del _generations[old_key]
            if old.owner == os.getpid():
                _retire(old)
    wanted = _generation_key(key)
    handle = _generations.get(wanted)
    if handle is not None:
        _generations.move_to_end(wanted)
        handle.last_used = time.monotonic()
        return handle
    handle = ZygoteHandle(start_timeout, modules if key else (), env)
    _generations[wanted] = handle
    if key:
        _evict(keep=handle)
    return handle


def _evict(keep: ZygoteHandle) -> None:
    """Retire the least recently used warm generations over the count or memory cap."""
    warm = [(k, h) for k, h in _generations.items() if k[1] and h is not keep]
    total = sum(h.memory() or 0 for _, h in warm) + (keep.memory() or 0)
    while warm and (len(warm) + 1 > MAX_GENERATIONS or total > MAX_GENERATION_BYTES):
        old_key, old = warm.pop(0)
        total -= old.memory() or 0
        del _generations[old_key]
        log.info("mlops engine: retiring the warm zygote for %s", ", ".join(old.modules))
        _retire(old)


def _retire(handle: ZygoteHandle) -> None:
    """Kept in ``_abandoned`` until closed, so none outlives this process."""
    _abandoned[:] = [h for h in _abandoned if not h.closed]
    _abandoned.append(handle)
    handle.retire()


def zygote_status() -> list[dict[str, Any]]:
    """The zygotes this process keeps, most recently used last: pid, warm modules, what
    was skipped and why, memory in bytes, runs in flight (for status pages and tests)."""
    with _zygote_lock:
        handles = list(_generations.values())
    return [
        {
            "pid": h.process.pid,
            "modules": list(h.warm.get("modules") or []),
            "skipped": dict(h.warm.get("skipped") or {}),
            "memory": h.memory(),
            "runs": h.runs,
            "idle_seconds": round(time.monotonic() - h.last_used, 1),
        }
        for h in handles
        if h.alive
    ]


def _forget_after_fork() -> None:
    """A forked engine process (a ProcessPoolExecutor worker) starts a zygote of its own."""
    global _zygote, _zygote_lock
    _abandoned.extend(_generations.values())  # never closed here: they belong to the parent
    _generations.clear()
    _zygote = None
    _zygote_lock = threading.Lock()


def _close_at_exit() -> None:
    for zygote in [*_abandoned, *_generations.values()]:
        if zygote.owner == os.getpid():
            zygote.close()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_close_at_exit)


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

"""The engine's zygotes: start them, ask them for forks, keep a bounded set of generations.

A ``ZygoteHandle`` is the engine's side of one zygote process (``zygote``): it starts it,
writes its ``run`` requests and routes its ``started``/``failed``/``exited`` events to the
run that asked. ``get_zygote`` keeps this process's zygotes: the plain one, and one
*generation* per set of warm imports (``warm``), keyed on the import set, the versions
behind it, the environment the imports see and the variables that shape ``sys.path``;
least recently used generations are retired over a count or memory cap, and
``zygote_status`` reports them (pid, modules, memory).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from jupyter_mlops.errors import ExecutionError
from jupyter_mlops.execute import kept
from jupyter_mlops.execute.protocol import Message, encode, memory_of

log = logging.getLogger(__name__)


class ZygoteHandle:
    """The engine's side of one zygote process: start it, ask for forks, hear of exits."""

    def __init__(
        self,
        start_timeout: float,
        modules: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self._init_state(modules)
        command = [sys.executable, "-m", "jupyter_mlops.execute.zygote"]
        self.process = subprocess.Popen(
            [*command, "--warm"] if modules else command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.directory,
            start_new_session=True,
        )
        self.pid = self.process.pid
        self._start_readers(self.process.stdout, self.process.stderr)
        if modules:
            # Over the pipe, not argv: the environment may hold secrets, and argv is public.
            self._write({"op": "warm", "modules": list(modules), "env": env or {}})
        if not self._ready.wait(start_timeout) or not self.alive:
            self.close()
            raise ExecutionError(
                f"the mlops zygote process did not start within {start_timeout:g} s",
                hint="its stderr is in this process's log; try papermill's default engine",
            )

    def _init_state(self, modules: tuple[str, ...]) -> None:
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

    def _start_readers(self, events: Any, stderr: Any) -> None:
        self._threads = [
            threading.Thread(target=self._read_events, args=(events,), name="mlops-zygote"),
            threading.Thread(target=self._read_stderr, args=(stderr,), name="mlops-zygote"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def _read_events(self, events: Any) -> None:
        for line in events:
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

    def _read_stderr(self, stderr: Any) -> None:
        for line in stderr:
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
        return memory_of(self.pid)

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


class KeptZygoteHandle(ZygoteHandle):
    """The engine's side of a zygote kept warm between commands (``kept``): the same
    requests and events, over its socket. Closing only hangs up: the zygote kills this
    process's runs, if any are left, and waits for the next command."""

    def __init__(
        self,
        start_timeout: float,
        modules: tuple[str, ...],
        env: dict[str, str] | None,
        generation: tuple[Any, ...],
    ) -> None:
        self._init_state(modules)
        self.sock, greeting = kept.connect(
            generation, modules, env or {}, start_timeout, (MAX_GENERATIONS, MAX_GENERATION_BYTES)
        )
        self.pid = int(greeting["pid"])
        self.warm.update(greeting.get("warm") or {})
        self._ready.set()
        # The runs' fd 1 and 2: a pipe of ours, logged as a zygote's stderr always was.
        read_end, write_end = os.pipe()
        try:
            socket.send_fds(self.sock, [encode({"op": "stderr"})], [write_end])
        finally:
            os.close(write_end)
        self._start_readers(self.sock.makefile("rb"), os.fdopen(read_end, "rb"))

    def _write(self, message: Message) -> bool:
        try:
            self.sock.sendall(encode(message))
        except OSError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for thread in self._threads:
            thread.join(1)
        shutil.rmtree(self.directory, ignore_errors=True)


def _new_handle(
    start_timeout: float, modules: tuple[str, ...], env: dict[str, str] | None, wanted: Any
) -> ZygoteHandle:
    """A kept zygote when this process keeps them warm (the CLI), else one of its own."""
    if kept.keep_warm() > 0:
        try:
            return KeptZygoteHandle(start_timeout, modules, env, wanted)
        except ExecutionError as err:
            log.warning("mlops engine: no kept zygote (%s); starting one of this command's", err)
    return ZygoteHandle(start_timeout, modules, env)


_zygote_lock = threading.Lock()
_zygote: ZygoteHandle | None = None  # the one that served the latest request
_generations: collections.OrderedDict[tuple[Any, ...], ZygoteHandle] = collections.OrderedDict()
_abandoned: list[ZygoteHandle] = []
_starting: dict[tuple[Any, ...], threading.Event] = {}  # generations being started

# Top-level modules a zygote saw start a thread at import, with that reason: never warmed
# again in this process (the generation that imported one is discarded).
UNSAFE_MODULES: dict[str, str] = {}


# How many warm generations a long-lived process keeps, and how much memory they may hold
# together (the plain zygote, with no warm imports, is always kept and not counted).
def _int_from_environment(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return max(0, int(text))
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", name, text, default)
        return default


MAX_GENERATIONS = _int_from_environment("JUPYTER_MLOPS_WARM_GENERATIONS", 4)
MAX_GENERATION_BYTES = _int_from_environment("JUPYTER_MLOPS_WARM_MEMORY_MB", 2048) << 20


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
    wanted = _generation_key(key)
    while True:
        with _zygote_lock:
            _drop_stale()
            handle = _generations.get(wanted)
            if handle is not None:
                _generations.move_to_end(wanted)
                handle.last_used = time.monotonic()
                _zygote = handle
                return handle
            starting = _starting.get(wanted)
            mine = starting is None
            if starting is None:
                starting = _starting[wanted] = threading.Event()
        if mine:
            break
        starting.wait(start_timeout + 5)  # another thread starts this one: share it
    # Started outside the lock: a warm generation takes seconds to import its modules, and
    # runs of other notebooks need not wait for it.
    try:
        handle = _new_handle(start_timeout, modules if key else (), env, wanted)
    finally:
        with _zygote_lock:
            _starting.pop(wanted, None)
        starting.set()
    unsafe = {str(k): str(v) for k, v in dict(handle.warm.get("unsafe") or {}).items()}
    if unsafe:
        UNSAFE_MODULES.update(unsafe)
        handle.close()
        return handle
    with _zygote_lock:
        _generations[wanted] = handle
        if key:
            _evict(keep=handle)
        _zygote = handle
    return handle


def _generation_key(key: str) -> tuple[Any, ...]:
    return (_path_environment(), key)


def _drop_stale() -> None:
    """Zygotes that died, or that started under another sys.path, serve no new run."""
    for old_key, old in list(_generations.items()):
        stale = old.owner != os.getpid() or old.path_environment != _path_environment()
        if stale or not old.alive:
            del _generations[old_key]
            if old.owner == os.getpid():
                _retire(old)


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
            "pid": h.pid,
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
    _starting.clear()
    _zygote = None
    _zygote_lock = threading.Lock()


def _close_at_exit() -> None:
    for zygote in [*_abandoned, *_generations.values()]:
        if zygote.owner == os.getpid():
            zygote.close()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_close_at_exit)

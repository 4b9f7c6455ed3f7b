"""The zygote: imports IPython once, then forks a fresh, isolated kernel process per run.

Run as ``python -m jupyter_mlops.execute.zygote`` by the engine, which talks to it over its
stdin/stdout (JSON lines, see ``protocol``). Importing IPython costs ~0.3 s and starting a
Jupyter kernel ~0.65 s; a fork of a process that already did it costs ~5 ms. The zygote
itself never runs user code, so nothing a run does (globals, imports, ``os.environ``,
``chdir``, ``atexit``, ``sys.stdout``) can reach the next run: each run lives and dies in
its own forked child.

Started with ``--warm``, the zygote is a *generation* for one notebook's imports: its first
request (``warm``) names the modules, which it imports before it says ``ready`` and forks
anything (``warm_zygote``: fork safety, and what each run then resets).

Processes: the zygote and every child are child subreapers, so whatever a run starts stays
in that run's tree while the child lives, and comes back to the zygote (not init) when the
child dies; the zygote then kills it before reporting ``exited``. Each child also calls
``setsid()`` so its process group can be killed at once.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import ctypes
import gc
import getpass
import importlib.util
import logging
import math
import numbers
import os
import select
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, NoReturn

# Imported here, once, and not in each run: a run's child drops every jupyter_mlops module
# (the notebook's own `import jupyter_mlops` must see the run's environment), and importing
# the package again to save a run's values cost each run ~5 ms. It reads no environment.
from jupyter_mlops.convert.runtime_io import mlops_save
from jupyter_mlops.execute.protocol import (
    LineReader,
    Message,
    encode,
    kill_tree,
    write_all,
)
from jupyter_mlops.execute.warm_zygote import after_fork, warm_up

if TYPE_CHECKING:
    from jupyter_mlops.execute.kernel_shell import CapturingShell, OutputSink

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
_CLEANUP_SECONDS = 2.0


def _set_subreaper() -> None:
    """Orphans of our descendants come back to us instead of init (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


class Zygote:
    """The forking server: one request per run, one ``exited`` report per run."""

    def __init__(
        self, control_in: int, control_out: int, shell: CapturingShell, warm: Message
    ) -> None:
        self.control_in = control_in
        self.control_out = control_out
        self.shell = shell
        self.warm = warm
        self.active: dict[int, str] = {}
        self.wake_read, self.wake_write = os.pipe()

    def send(self, message: Message) -> None:
        write_all(self.control_out, encode(message))

    def leave_in_child(self, request: Message) -> None:
        """In a forked run child: close what belongs to the zygote, not to the run."""
        for fd in (self.control_in, self.control_out, self.wake_read, self.wake_write):
            os.close(fd)

    def wake_on_child_exit(self) -> None:
        """A child's exit (SIGCHLD) wakes the ``select`` of the loop through ``wake_read``."""
        os.set_blocking(self.wake_write, False)
        os.set_blocking(self.wake_read, False)
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def ready_report(self) -> Message:
        """What the engine hears when the zygote is ready: its pid and its warm imports."""
        report = {k: v for k, v in self.warm.items() if k != "pools"}
        return {"op": "ready", "pid": os.getpid(), "warm": report}

    def serve(self) -> None:
        self.wake_on_child_exit()
        reader = LineReader(self.control_in)
        if threading.active_count() != 1:
            log.warning("zygote has %d threads before forking", threading.active_count())
        self.send(self.ready_report())
        while True:
            ready, _, _ = select.select([self.control_in, self.wake_read], [], [], 1.0)
            if self.wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wake_read, 4096)
            self.reap()
            try:
                while (request := reader.read(0)) is not None:
                    self.handle(request)
            except EOFError:
                self.shutdown()
                return

    def handle(self, request: Message) -> None:
        if request.get("op") != "run":
            log.warning("zygote ignores unknown request %r", request.get("op"))
            return
        run_id = str(request["id"])
        try:
            pid = os.fork()
        except OSError as err:
            self.send({"op": "failed", "id": run_id, "error": f"fork failed: {err}"})
            return
        if pid == 0:
            _child_main(request, self)
        self.active[pid] = run_id
        self.send({"op": "started", "id": run_id, "pid": pid})

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run_id = self.active.pop(pid, None)
            if run_id is None:
                continue  # an orphan we adopted and already killed
            self.cleanup(pid)
            code = os.waitstatus_to_exitcode(status)
            self.send({"op": "exited", "id": run_id, "pid": pid, "code": code})

    def cleanup(self, pid: int) -> None:
        """Kill what a finished run left: its process group and the orphans it handed us."""
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        give_up = time.monotonic() + _CLEANUP_SECONDS
        while time.monotonic() < give_up:
            orphans = [p for p in _children(os.getpid()) if p not in self.active]
            if not orphans:
                return
            for orphan in orphans:
                kill_tree(orphan)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(orphan, os.WNOHANG)
            time.sleep(0.005)
        log.warning("processes left by run child %d survived cleanup", pid)

    def shutdown(self) -> None:
        """The engine went away: no run may outlive it."""
        for pid in list(self.active):
            kill_tree(pid)
        for pid in list(self.active):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _child_main(request: Message, zygote: Zygote) -> NoReturn:
    """The forked child: become the run's kernel, serve it, exit. Never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        zygote.leave_in_child(request)
        _set_subreaper()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(request["socket"]))
        code = RunChild(zygote.shell, conn, zygote.warm).serve(request)
    except BaseException:  # the child must never fall back into the zygote's loop
        log.exception("run child failed")
    finally:
        os._exit(code)


def _no_input(prompt: object = "") -> str:
    """``input()`` in a papermill run: there is no frontend to answer."""
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError(
        "raw_input was called, but this frontend does not support input requests."
    )


def _no_getpass(prompt: str = "Password: ", stream: object = None) -> str:
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError(
        "getpass was called, but this frontend does not support input requests."
    )


class RunChild:
    """One run's kernel in the forked child: executes the cells the engine sends, in order."""

    def __init__(self, shell: CapturingShell, conn: socket.socket, warm: Message) -> None:
        self.zygote_warm = warm
        self.shell = shell
        self.conn = conn
        self.closing = False
        self.sink: OutputSink | None = None

    def send(self, message: Message) -> None:
        if self.closing:
            return
        try:
            self.conn.sendall(encode(message))
        except OSError:
            os._exit(1)  # the engine is gone; nobody wants this run any more

    def serve(self, request: Message) -> int:
        error = self.prepare(request)
        self.send({"op": "hello", "pid": os.getpid(), "error": error})
        if error is not None:
            return 1
        reader = LineReader(self.conn.fileno())
        while True:
            try:
                message = reader.read(None)
            except EOFError:
                return 0
            assert message is not None
            op = message.get("op")
            if op == "execute":
                self.execute(str(message["source"]))
            elif op == "collect":
                self.send({"op": "reply", **self.collect(list(message["names"]))})
            elif op == "save":
                self.send({"op": "reply", **self.save(dict(message["items"]))})
            elif op == "exit":
                self.finish()
                return 0

    def prepare(self, request: Message) -> str | None:
        """Become the run's kernel: environment, directory, import path, captured outputs."""
        from jupyter_mlops.execute.kernel_shell import capture_outputs, kernel_environment

        os.environ.clear()
        os.environ.update(kernel_environment(dict(request["env"])))
        cwd = str(request["cwd"])
        try:
            os.chdir(cwd)
        except OSError as err:
            return f"cannot use the working directory {cwd!r}: {err.strerror}"
        sys.argv = [_LAUNCHER, "-f", str(request["socket"])]  # a kernel's argv, in shape
        # The zygote imported jupyter_mlops itself; user code must import it afresh, in the
        # run's environment (the runtime reads JUPYTER_MLOPS_RUN_DIR).
        for name in [m for m in sys.modules if m.split(".")[0] == "jupyter_mlops"]:
            del sys.modules[name]
        for handler in log.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(os.fdopen(os.dup(2), "w"))
        after_fork(self.zygote_warm, os.environ)
        self.sink = capture_outputs(self.shell, self.send)
        builtins.input = _no_input
        getpass.getpass = _no_getpass
        return None

    def execute(self, source: str) -> None:
        assert self.sink is not None
        self.sink.flush_streams()
        count = self.shell.execution_count
        self.send({"op": "execute_input", "execution_count": count})
        result = self.shell.run_cell(source, store_history=True, silent=False)
        self.sink.flush_streams()
        reply: Message = {"op": "done", "execution_count": count, "status": "ok"}
        if not result.success or self.shell.display_error is not None:
            err = result.error_before_exec
            if err is None:
                err = result.error_in_exec
            if err is None:  # the cell ran; showing its result failed
                err = self.shell.display_error
            reply.update(
                status="error",
                ename=type(err).__name__,
                evalue=str(err),
                traceback=self.shell._last_traceback or [],
            )
        self.send(reply)

    def collect(self, names: list[str]) -> Message:
        """Real numbers bound to ``names`` (bools and non-finite values left out, by name)."""
        metrics: dict[str, float] = {}
        skipped: dict[str, str] = {}
        for name in names:
            if name not in self.shell.user_ns:
                continue
            value = self.shell.user_ns[name]
            if isinstance(value, bool) or type(value).__name__ == "bool_":
                continue
            if not isinstance(value, numbers.Real):
                continue
            number = float(value)
            if math.isfinite(number):
                metrics[name] = number
            else:
                skipped[name] = repr(number)
        return {"metrics": metrics, "skipped": skipped}

    def save(self, items: dict[str, str]) -> Message:
        saved: dict[str, str] = {}
        missing: list[str] = []
        failed: dict[str, str] = {}
        for name, path in items.items():
            if name not in self.shell.user_ns:
                missing.append(name)
                continue
            try:
                saved[name] = mlops_save(name, self.shell.user_ns[name], str(path))
            except Exception as err:
                failed[name] = f"{type(err).__name__}: {err}"
        if self.sink is not None:
            self.sink.flush_streams()
        return {"saved": saved, "missing": missing, "failed": failed}

    def finish(self) -> None:
        """Run the notebook's atexit handlers, as a kernel shutting down would, then go."""
        if self.sink is not None:
            self.sink.flush_streams()
        self.closing = True
        self.conn.close()
        signal.alarm(10)  # an atexit handler that hangs must not keep the child alive
        atexit._run_exitfuncs()


def _kernel_sys_path() -> None:
    """sys.path as in a kernel: not our start directory, but '' before site-packages."""
    if sys.path and os.path.realpath(sys.path[0]) == os.path.realpath(os.getcwd()):
        del sys.path[0]
    if "" in sys.path:
        return
    for index, entry in enumerate(sys.path):
        if os.path.basename(entry) in {"site-packages", "dist-packages"}:
            sys.path.insert(index, "")
            return
    sys.path.insert(0, "")


def _launcher() -> str:
    spec = importlib.util.find_spec("ipykernel_launcher")
    return str(spec.origin) if spec is not None and spec.origin else "ipykernel_launcher.py"


_LAUNCHER = _launcher()


def start(warm_requested: bool) -> tuple[int, int, CapturingShell, Message]:
    """Become a zygote: the control pipes, logging, IPython's shell and (with
    ``warm_requested``) the warm imports the first request names. Returns the control pipes'
    fds, the shell and the warm report; what is left is to serve."""
    control_in = os.dup(0)
    control_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    # Our own handler, not basicConfig: user code in a run must find the root logger as a
    # fresh kernel has it (no handlers), so logging.warning() lands in the notebook.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[mlops zygote] %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    _set_subreaper()
    _kernel_sys_path()
    from jupyter_mlops.execute.kernel_shell import build_shell

    shell = build_shell()
    warm: Message = {}
    if warm_requested:
        request = LineReader(control_in).read(None)
        if request is not None and request.get("op") == "warm":
            warm = warm_up(list(request["modules"]), dict(request["env"]))
    gc.collect()
    gc.freeze()  # children's collections then leave the shared pages alone (copy-on-write)
    return control_in, control_out, shell, warm


def main() -> None:
    """Entry point: keep the control pipes off fds 0/1 so stray prints cannot corrupt them."""
    Zygote(*start("--warm" in sys.argv[1:])).serve()


if __name__ == "__main__":
    main()

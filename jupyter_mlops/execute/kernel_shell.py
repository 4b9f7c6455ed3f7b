"""An InteractiveShell whose outputs become notebook outputs, as ipykernel would make them.

ipykernel turns prints, displays, results and errors into iopub messages that nbclient then
folds into ``cell.outputs``. We skip ZeroMQ and send the same content over one socket:

- ``OutStream`` buffers ``sys.stdout``/``sys.stderr`` text and flushes it at most every
  0.2 s, before any display or error, and at the end of the cell, which is when ipykernel
  flushes too, so quick cells give the same coalesced ``stream`` outputs;
- ``FdCapture`` points file descriptors 1 and 2 at pipes and feeds what C code and
  subprocesses write there into the same streams (ipykernel's fd capture);
- ``CapturingDisplayPublisher``/``CapturingDisplayHook`` send ``display_data``,
  ``update_display_data``, ``clear_output`` and ``execute_result`` content;
- ``CapturingShell`` sends ``error`` outputs from ``_showtraceback`` and runs ``!cmd`` with
  IPython's piped ``system`` like ``ZMQInteractiveShell``;
- ``%matplotlib inline|widget|notebook`` and ``plt.show()`` work as in a kernel: GUI names
  that need no event loop are accepted by ``enable_gui``, and matplotlib_inline's own
  ``configure_inline_support`` registers its ``flush_figures`` post-execute hook, whose
  figures reach ``display()``. Toolkits that need an event loop (qt, tk, …) are refused
  here; the engine sends notebooks that ask for one to a stock kernel (``engine``).

The shell is built once in the zygote (so nothing here may start a thread or open a file at
construction) and wired to a run's socket in each forked child by ``attach``.
"""

from __future__ import annotations

import codecs
import io
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ipykernel import zmqshell
from ipykernel.compiler import XCachingCompiler
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.process import system  # type: ignore[attr-defined]
from traitlets import Any as AnyTrait
from traitlets import Bool, Type

from jupyter_mlops.execute.comms import install_comms
from jupyter_mlops.execute.guis import EVENT_LOOP_GUIS, NO_EVENT_LOOP_GUIS
from jupyter_mlops.execute.protocol import Message, write_all

FLUSH_INTERVAL = 0.2  # ipykernel's OutStream.flush_interval

Send = Callable[[Message], None]


class OutputSink:
    """Where one child's outputs go: the run socket, behind a lock shared by every writer."""

    def __init__(self, send: Send) -> None:
        self.lock = threading.RLock()
        self._send = send
        self.pid = os.getpid()
        self.streams: list[OutStream] = []
        self.fd_capture: FdCapture | None = None
        # A process the user's code forks (multiprocessing) must not write to our socket
        # nor inherit a held lock: its text goes to fds 1/2, which we capture anyway.
        os.register_at_fork(
            before=self.lock.acquire,
            after_in_parent=self.lock.release,
            after_in_child=self._after_fork,
        )

    def _after_fork(self) -> None:
        self.lock = threading.RLock()
        for stream in self.streams:  # the parent still holds (and will send) this text
            stream.forget_pending()

    def send(self, message: Message) -> None:
        if os.getpid() != self.pid:
            output = message.get("output") or {}
            if output.get("output_type") == "stream":
                fd = 1 if output["name"] == "stdout" else 2
                write_all(fd, str(output["text"]).encode("utf-8", "replace"))
            return
        with self.lock:
            self._send(message)

    def flush_streams(self) -> None:
        """Send pending text, stdout before stderr, as ipykernel does before other outputs."""
        with self.lock:
            if self.fd_capture is not None:
                self.fd_capture.drain()
            for stream in self.streams:
                stream.flush()


class OutStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` replacement that buffers text into ``stream`` outputs."""

    def __init__(self, sink: OutputSink, name: str, fileno: int) -> None:
        super().__init__()
        self._sink = sink
        self.name = name
        self._fileno = fileno
        self._pending: list[str] = []
        self.pending_since: float | None = None

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "UTF-8"

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fileno

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text and os.getpid() != self._sink.pid:  # in a process the user's code forked
            self._write_forked(text)
        elif text:
            with self._sink.lock:
                self._pending.append(text)
                if self.pending_since is None:
                    self.pending_since = time.monotonic()
                if time.monotonic() - self.pending_since >= FLUSH_INTERVAL:
                    self.flush()
        return len(text)

    def forget_pending(self) -> None:
        self._pending = []
        self.pending_since = None

    def _write_forked(self, text: str) -> None:
        """Whole lines straight to the fd: a pipe write under PIPE_BUF is atomic, so lines
        that concurrent forked workers print do not interleave (``print`` writes in pieces)."""
        self._pending.append(text)
        if "\n" not in text:
            return
        buffered = "".join(self._pending)
        cut = buffered.rfind("\n") + 1
        self._pending = [buffered[cut:]] if cut < len(buffered) else []
        write_all(self._fileno, buffered[:cut].encode("utf-8", "replace"))

    def flush(self) -> None:
        if os.getpid() != self._sink.pid:
            text = "".join(self._pending)
            self.forget_pending()
            if text:
                write_all(self._fileno, text.encode("utf-8", "replace"))
            return
        with self._sink.lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            self.pending_since = None
            self._sink.send(
                {
                    "op": "output",
                    "output": {"output_type": "stream", "name": self.name, "text": text},
                }
            )


class FdCapture:
    """Pipes behind fds 1 and 2, read by one thread that also flushes stale stream text."""

    def __init__(self, sink: OutputSink, streams: dict[int, OutStream]) -> None:
        self._sink = sink
        self._streams = streams
        self._readers: dict[int, tuple[int, codecs.BufferedIncrementalDecoder]] = {}
        for fd in streams:
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            os.set_blocking(read_end, False)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            self._readers[read_end] = (fd, decoder)
        self._thread = threading.Thread(target=self._loop, name="mlops-output", daemon=True)
        self._thread.start()

    def _read(self, read_end: int) -> None:
        fd, decoder = self._readers[read_end]
        while True:
            try:
                chunk = os.read(read_end, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            self._streams[fd].write(decoder.decode(chunk))

    def drain(self) -> None:
        """Move whatever sits in the pipes into the streams (call with the sink's lock)."""
        for read_end in self._readers:
            self._read(read_end)

    def _loop(self) -> None:
        fds = list(self._readers)
        while True:
            wait = FLUSH_INTERVAL
            for stream in self._streams.values():
                if stream.pending_since is not None:
                    due = stream.pending_since + FLUSH_INTERVAL - time.monotonic()
                    wait = max(0.0, min(wait, due))
            ready, _, _ = select.select(fds, [], [], wait)
            with self._sink.lock:
                for read_end in ready:
                    self._read(read_end)
                now = time.monotonic()
                for stream in self._streams.values():
                    since = stream.pending_since
                    if since is not None and now - since >= FLUSH_INTERVAL:
                        stream.flush()


class CapturingDisplayPublisher(DisplayPublisher):
    """``display()``, ``update_display()`` and ``clear_output()`` as nbclient receives them."""

    sink: OutputSink | None = None

    def publish(
        self,
        data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        source: str | None = None,
        *,
        transient: dict[str, Any] | None = None,
        update: bool = False,
        **kwargs: Any,
    ) -> None:
        if self.sink is None:
            return
        self.sink.flush_streams()
        self.sink.send(
            {
                "op": "display",
                "msg_type": "update_display_data" if update else "display_data",
                "data": data,
                "metadata": metadata or {},
                "transient": transient or {},
            }
        )

    def clear_output(self, wait: bool = False) -> None:
        if self.sink is None:
            return
        self.sink.flush_streams()
        self.sink.send({"op": "clear_output", "wait": bool(wait)})


class CapturingDisplayHook(DisplayHook):
    """A cell's last expression as an ``execute_result`` numbered like the kernel's."""

    sink: OutputSink | None = None
    _result: Message | None = None

    def start_displayhook(self) -> None:
        self._result = {"op": "display", "msg_type": "execute_result", "data": {}, "metadata": {}}

    def write_output_prompt(self) -> None:
        if self._result is not None:
            self._result["execution_count"] = self.prompt_count

    def write_format_data(
        self, format_dict: dict[str, Any], md_dict: dict[str, Any] | None = None
    ) -> None:
        if self._result is not None:
            self._result["data"] = format_dict
            self._result["metadata"] = md_dict or {}

    def finish_displayhook(self) -> None:
        result, self._result = self._result, None
        if self.sink is None or result is None:
            return
        self.sink.flush_streams()
        if result["data"]:
            self.sink.send(result)


class CapturingShell(InteractiveShell):
    """The kernel's shell without ZeroMQ: same display machinery, same ``!cmd``, no history."""

    displayhook_class = Type(CapturingDisplayHook)
    display_error: BaseException | None = None  # raised while showing this cell's result
    display_pub_class = Type(CapturingDisplayPublisher)
    # ipykernel's compiler names cells like a kernel does (tracebacks, SyntaxError text).
    compiler_class = Type(XCachingCompiler)
    readline_use = Bool(False)
    autoindent = Bool(False)
    kernel = AnyTrait(None, allow_none=True, help="a RunKernel once attached to a run")
    sink: OutputSink | None = None
    _last_traceback: list[str] | None = None
    _parent: dict[str, Any] = {}  # noqa: RUF012 (set per run by attach)

    def enable_gui(self, gui: str | None = None) -> None:
        """What ``%matplotlib``/``%gui`` call: fine for output-only backends, as in a kernel.

        InteractiveShell leaves this unimplemented, which failed every ``%matplotlib inline``.
        """
        if gui is None or gui in NO_EVENT_LOOP_GUIS:
            self.active_eventloop = gui  # type: ignore[assignment]
            return
        if gui in EVENT_LOOP_GUIS:
            raise UsageError(
                f"the mlops engine runs no {gui!r} GUI event loop; "
                "run this notebook with --engine papermill"
            )
        valid = ", ".join(sorted(NO_EVENT_LOOP_GUIS | EVENT_LOOP_GUIS))
        raise UsageError(f"Invalid GUI request {gui!r}, valid ones are: {valid}")

    def init_environment(self) -> None:
        """Leave os.environ alone here; ``kernel_environment`` applies it per run."""

    def init_virtualenv(self) -> None:
        """No virtualenv warning: like ipykernel, the interpreter is the environment."""

    def _showtraceback(self, etype: type[BaseException], evalue: BaseException, stb: Any) -> None:
        if self.sink is not None:
            self.sink.flush_streams()
            output = {
                "output_type": "error",
                "ename": str(etype.__name__),
                "evalue": str(evalue),
                "traceback": list(stb),
            }
            self.sink.send({"op": "output", "output": output})
        self._last_traceback = list(stb)
        if getattr(self.displayhook, "_result", None) is not None:
            # An error while the cell's result was being shown (a failing _repr_*_ or
            # _ipython_display_) fails the cell, as ipykernel marks its execute_request.
            self.display_error = evalue

    def run_cell(self, *args: Any, **kwargs: Any) -> Any:
        self._last_traceback = None
        self.display_error = None
        return super().run_cell(*args, **kwargs)  # type: ignore[no-untyped-call]

    def system_piped(self, cmd: str) -> None:
        """``!cmd`` as ipykernel runs it: output through sys.stdout, status in ``_exit_code``."""
        if cmd.rstrip().endswith("&"):
            raise OSError("Background processes not supported.")
        exit_code = system(self.var_expand(cmd, depth=1))  # type: ignore[no-untyped-call]
        self.user_ns["_exit_code"] = exit_code

    system = system_piped

    def get_parent(self) -> dict[str, Any]:
        """The request being executed, as ipykernel's shell gives it: an ``ipywidgets.Output``
        takes its ``msg_id`` to capture what follows (``outputs`` routes it there)."""
        return self._parent

    def set_parent(self, parent: dict[str, Any]) -> None:
        self._parent = parent

    def attach(self, sink: OutputSink) -> None:
        """Route every output of this (forked) process to ``sink``."""
        self.sink = sink
        self.kernel = RunKernel(self)
        self._parent = {"header": {"msg_id": f"mlops-run-{os.getpid()}"}}
        if isinstance(self.displayhook, CapturingDisplayHook):
            self.displayhook.sink = sink
        if isinstance(self.display_pub, CapturingDisplayPublisher):
            self.display_pub.sink = sink


KERNEL_ENV = {
    # What ZMQInteractiveShell.init_environment and IPKernelApp set for the user's code.
    "TERM": "xterm-color",
    "CLICOLOR": "1",
    "FORCE_COLOR": "1",
    "CLICOLOR_FORCE": "1",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
}
MPLBACKEND = "module://matplotlib_inline.backend_inline"


def kernel_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment a stock IPython kernel's code sees, given the launching process's."""
    result = dict(env)
    result.update(KERNEL_ENV)
    if not result.get("MPLBACKEND"):
        result["MPLBACKEND"] = MPLBACKEND
    return result


class RunKernel:
    """What code reaches through ``get_ipython().kernel`` in a run: no sockets, no loop.

    ipykernel's shell asks its kernel for the GUI event loop when ``exit()`` is called,
    and libraries reach the comm manager through it; the rest of a Kernel (sockets,
    sessions, message handlers) has no meaning in a forked run and is absent.
    """

    eventloop = None

    def __init__(self, shell: CapturingShell) -> None:
        self.shell = shell

    def get_parent(self) -> dict[str, Any]:
        return self.shell.get_parent()

    @property
    def comm_manager(self) -> Any:
        import comm

        return comm.get_comm_manager()


class ZMQInteractiveShell(CapturingShell, zmqshell.ZMQInteractiveShell):  # type: ignore[misc]
    """Our shell, as an ipykernel shell: its kernel magics, its name, its module loaded.

    Libraries tell a notebook kernel from a terminal by ``isinstance``, by the class name,
    by ``ipykernel.zmqshell`` in ``sys.modules`` or by an ``IPKernelApp`` section in
    ``get_ipython().config`` (tqdm.auto), and then choose rich outputs (widgets, HTML) over
    plain text; a run here must get the outputs a kernel gets. ``CapturingShell`` comes
    first, so its outputs, ``!cmd`` and ``enable_gui`` win over the ZeroMQ ones.
    """


def build_shell() -> CapturingShell:
    """The pristine shell every run forks from (no history database, no threads)."""
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config["IPKernelApp"] = Config()
    shell = ZMQInteractiveShell.instance(config=config)
    _warm_up(shell)
    return shell


def _warm_up(shell: CapturingShell) -> None:
    """Pay IPython's first-use costs (regexes, traits, formatters) once, not in every run.

    A silent cell without history leaves no trace in the namespace or the execution count;
    the formatters are called directly so no ``_``/``Out`` entry appears.
    """
    names = set(shell.user_ns)
    count = shell.execution_count
    shell.run_cell("pass", store_history=False, silent=True)
    formatter = shell.display_formatter
    assert formatter is not None
    for value in (0, "", [0], {"a": 0}):
        formatter.format(value)  # type: ignore[no-untyped-call]
    for name in set(shell.user_ns) - names:
        del shell.user_ns[name]
    shell.execution_count = count


def capture_outputs(shell: CapturingShell, send: Send) -> OutputSink:
    """In the child: streams, fds 1/2 and the display machinery all go to ``send``."""
    sink = OutputSink(send)
    stdout = OutStream(sink, "stdout", 1)
    stderr = OutStream(sink, "stderr", 2)
    sink.streams = [stdout, stderr]
    sys.stdout.flush()
    sys.stderr.flush()
    sink.fd_capture = FdCapture(sink, {1: stdout, 2: stderr})
    sys.stdout = stdout
    sys.stderr = stderr
    shell.attach(sink)
    install_comms(sink.send)
    return sink

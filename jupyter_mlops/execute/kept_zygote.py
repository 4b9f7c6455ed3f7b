"""A zygote kept warm between commands: the same forking server, on a socket, for any client.

Run as ``python -m jupyter_mlops.execute.kept_zygote --listen PATH --idle SECONDS [--warm]``
by ``kept`` (the engine's side), which writes the ``warm`` request on its stdin as for any
zygote and reads one ``ready`` line from its stdout once it listens.

A ``jupyter mlops run`` or ``sweep`` lasts seconds, and before this a zygote lived and died
with it: every command paid the interpreter, IPython and the notebook's imports again (1-2 s
for numpy, pandas and scikit-learn). Started with ``--listen PATH --idle SECONDS``, the
zygote instead detaches, binds ``PATH`` (a Unix socket in a private folder, ``kept``) and
serves whichever engine process connects, until nobody has used it for ``SECONDS``.

What does not change: each run is its own fork, from the same clean state; each run gets
the environment and working folder of the command that asked for it (they travel in the
request, as before); the run's fd 1 and 2 are the asking command's (it sends its stderr
pipe over the socket, ``SCM_RIGHTS``); and a command that goes away takes its runs with it
(its connection closes, the zygote kills their process trees). Only processes of the same
user may connect (``SO_PEERCRED``).

It stops when idle for ``--idle`` seconds with no connection and no run, when asked
(``stop``: no new runs, gone when the last ends), or when its socket file is removed or
replaced. A generation whose warm imports started a thread forks nothing: it stays to
answer every client with its report, so the next command does not try those imports again.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jupyter_mlops.execute.kept_folder import OwnSocket
from jupyter_mlops.execute.protocol import Message, encode, kill_tree, memory_of
from jupyter_mlops.execute.zygote import Zygote, start

if TYPE_CHECKING:
    from jupyter_mlops.execute.kernel_shell import CapturingShell


@dataclass
class _Client:
    """One connected engine process."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    stderr: int | None = None  # the client's pipe: the run children's fd 1 and 2
    runs: set[str] = field(default_factory=set)
    closed: bool = False


def detach() -> None:
    """Fork once: the starter's process exits at once (it waits for it), the zygote goes on
    in a session of its own, a child of nobody who will wait for it."""
    if os.fork() != 0:
        os._exit(0)
    os.setsid()


class KeptZygote(Zygote):
    """The forking server on a listening socket, with many clients and an idle timeout."""

    def __init__(
        self, control_out: int, shell: CapturingShell, warm: Message, path: str, idle: float
    ) -> None:
        super().__init__(-1, control_out, shell, warm)
        self.path = path
        self.idle = idle
        self.listener = OwnSocket(path)
        self.clients: dict[int, _Client] = {}
        self.run_client: dict[str, _Client] = {}
        self.stopping = False
        self.unsafe = bool(warm.get("unsafe"))
        self.idle_since = time.monotonic()

    # -- routing: events go to the client whose run they are about ---------------------------

    def send(self, message: Message) -> None:
        run_id = str(message.get("id"))
        client = self.run_client.get(run_id)
        if message.get("op") in {"exited", "failed"}:
            self.run_client.pop(run_id, None)
            if client is not None:
                client.runs.discard(run_id)
        if client is not None and not client.closed:
            self._reply(client, message)

    def _reply(self, client: _Client, message: Message) -> None:
        try:
            client.sock.sendall(encode(message))
        except OSError:
            self._drop(client)

    def leave_in_child(self, request: Message) -> None:
        client = self.run_client.get(str(request["id"]))
        if client is not None and client.stderr is not None:
            os.dup2(client.stderr, 1)
            os.dup2(client.stderr, 2)
        for other in self.clients.values():
            other.sock.close()
            if other.stderr is not None:
                os.close(other.stderr)
        self.listener.close()
        for fd in (self.wake_read, self.wake_write):
            os.close(fd)

    # -- the loop ---------------------------------------------------------------------------

    def serve(self) -> None:
        self.wake_on_child_exit()
        os.write(self.control_out, encode(self.ready_report()))
        os.close(self.control_out)
        while True:
            watched: list[int] = [self.listener.fileno(), self.wake_read, *self.clients]
            ready, _, _ = select.select(watched, [], [], 1.0)
            if self.wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wake_read, 4096)
            self.reap()
            if self.listener.fileno() in ready:
                self._accept()
            for fd in [fd for fd in ready if fd in self.clients]:
                self._receive(self.clients[fd])
            if self.clients or self.active:
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
        client = _Client(sock)
        self.clients[sock.fileno()] = client
        self._reply(client, self.ready_report())

    def _receive(self, client: _Client) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(client.sock, 1 << 16, 4)
        except OSError:
            data, fds = b"", []
        for fd in fds:  # the client's stderr pipe, sent once after it connects
            if client.stderr is not None:
                os.close(client.stderr)
            client.stderr = fd
        if not data:
            self._drop(client)
            return
        client.buffer += data
        while (end := client.buffer.find(b"\n")) >= 0:
            line = bytes(client.buffer[:end])
            del client.buffer[: end + 1]
            try:
                request = json.loads(line)
            except ValueError:
                continue
            if isinstance(request, dict):
                self._request(client, request)

    def _request(self, client: _Client, request: Message) -> None:
        op = request.get("op")
        if op == "run":
            run_id = str(request.get("id"))
            refused = self._refusal()
            if refused:
                self._reply(client, {"op": "failed", "id": run_id, "error": refused})
                return
            self.run_client[run_id] = client
            client.runs.add(run_id)
            self.handle(request)
        elif op == "status":
            self._reply(client, {"op": "status", **self.status()})
        elif op == "stop":
            self.stopping = True
            self.listener.unlink()
            self._reply(client, {"op": "stopping", "runs": len(self.active)})

    def _refusal(self) -> str | None:
        if self.unsafe:
            return "this zygote's warm imports started a thread; it forks nothing"
        if self.stopping:
            return "this zygote is stopping"
        return None

    def status(self) -> Message:
        return {
            "pid": os.getpid(),
            "modules": list(self.warm.get("modules") or []),
            "unsafe": dict(self.warm.get("unsafe") or {}),
            "memory": memory_of(os.getpid()),
            "runs": len(self.active),
            "clients": len(self.clients),
            "idle_seconds": round(time.monotonic() - self.idle_since, 1),
            "idle_limit": self.idle,
        }

    def _drop(self, client: _Client) -> None:
        """A client went away: no run of its may outlive it."""
        if client.closed:
            return
        client.closed = True
        self.clients.pop(client.sock.fileno(), None)
        for pid, run_id in list(self.active.items()):
            if run_id in client.runs:
                kill_tree(pid)
        client.sock.close()
        if client.stderr is not None:
            os.close(client.stderr)
            client.stderr = None


def main() -> None:
    arguments = sys.argv[1:]
    path = arguments[arguments.index("--listen") + 1]
    idle = float(arguments[arguments.index("--idle") + 1])
    detach()
    control_in, control_out, shell, warm = start("--warm" in arguments)
    os.close(control_in)
    KeptZygote(control_out, shell, warm, path, idle).serve()


if __name__ == "__main__":
    main()

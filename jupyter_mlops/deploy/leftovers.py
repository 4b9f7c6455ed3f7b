"""Serving processes a deployment left behind, and who still holds its port.

A keeper killed with SIGKILL cannot stop its serving process. The serving process watches
its keeper and stops by itself (``serve --watch-pid``), but between the two a new keeper or
an ``undeploy`` may come: both end whatever still serves the deployment, found by its
command line (the deployment's own ``record.json`` path is in it), not only by the pid the
store recorded. A port that stays held after that is reported with the pid holding it.
On systems without ``/proc`` only the recorded pid is known.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from ..store.owner import is_alive
from .files import DeploymentFiles

PROC = Path("/proc")
SERVE_MODULE = "jupyter_mlops.serve"


def serving_pids(files: DeploymentFiles, recorded: int | None = None) -> list[int]:
    """Pids of the serving processes of this deployment still running (the recorded one too)."""
    found: set[int] = set()
    if PROC.is_dir():
        wanted = str(files.record)  # the project's paths are absolute, as the keeper passed it
        for entry in PROC.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            words = [word.decode("utf-8", errors="replace") for word in argv]
            if SERVE_MODULE in words and _after(words, "--record") == wanted:
                found.add(int(entry.name))
    elif recorded is not None and _exists(recorded):
        found.add(recorded)
    return sorted(found)


def end(pids: list[int], grace: float = 10.0) -> list[int]:
    """SIGTERM (the process drains), SIGKILL after ``grace``; the pids that were ended."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
        if hasattr(signal, "SIGCONT"):  # a stopped process handles its SIGTERM only then
            _signal(pid, signal.SIGCONT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_exists(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if _exists(pid):
            _signal(pid, signal.SIGKILL)
    return pids


def still_held(host: str, port: int) -> str | None:
    """None when nothing listens on the port any more; else " by pid N" (or "" if unknown)."""
    client = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if not port_held(client, port):
        return None
    holder = port_holder(port)
    return f" by pid {holder}" if holder is not None else ""


def port_held(host: str, port: int, timeout: float = 1.0) -> bool:
    """Does something accept connections on ``host:port`` (the host as a client reaches it)?"""
    if port <= 0:
        return False
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def port_holder(port: int) -> int | None:
    """The pid of a process listening on ``port`` (Linux; None when unknown)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    return None


def _after(words: list[str], flag: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        return words[words.index(flag) + 1]
    return None


def _exists(pid: int) -> bool:
    return is_alive(pid, None)  # a zombie counts as gone: only its entry is left


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)

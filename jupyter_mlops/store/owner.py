"""Which process owns a run, and whether that process is still alive.

A pid alone is not an identity: after a crash and a reboot (or just enough new processes)
the same number belongs to someone else, and the run would look alive forever. On Linux the
owner is therefore (pid, start time in clock ticks since boot, field 22 of
``/proc/<pid>/stat``); elsewhere only the pid is known and ``os.kill(pid, 0)`` decides
(on Windows, where that signal would kill the process, the process handle does).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: int | None


@lru_cache(maxsize=1)
def hostname() -> str:
    return socket.gethostname()


def this_process() -> Owner:
    """The owner to record for runs this process creates or starts (cheap after a fork too)."""
    pid = os.getpid()
    return Owner(hostname(), pid, process_start(pid))


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot; None if unknown or not running."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":  # a zombie has finished; only its entry remains
        return None
    return int(fields[19])


def is_alive(pid: int, start: int | None) -> bool:
    """Is the process that recorded (pid, start) still running on this host?"""
    if pid <= 0:
        return False
    if PROC.is_dir() and (PROC / "self" / "stat").is_file():
        current = process_start(pid)
        if current is None:
            return False
        return start is None or current == start
    if sys.platform == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    except OSError:
        return False
    return True


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3… of /proc/<pid>/stat (the name in parentheses may hold spaces and ')')."""
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    _, _, rest = text.rpartition(")")
    fields = rest.split()
    return fields if len(fields) > 19 else None


if sys.platform == "win32":

    def _windows_alive(pid: int) -> bool:
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: alive, someone else's
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)

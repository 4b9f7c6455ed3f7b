"""Where kept processes listen, and the stamps their names are made of: stdlib only.

Both the kept zygotes (``kept``) and the command host (``cli_client``, the console script,
which must start in a few milliseconds) name their sockets in one private folder by what
decides what a fork of them contains. The folder and the stamps are computed here, once,
for both, with nothing imported that the console script would pay for.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import stat
import struct
import sys
import tempfile
from collections.abc import Iterator

RUNTIME_DIR_ENV = "JUPYTER_MLOPS_RUNTIME_DIR"  # where the sockets are (default below)


class NotPrivateError(OSError):
    """The folder of the sockets is not this user's alone (or cannot be made)."""


def private_folder() -> str:
    """The private folder of the sockets: ``$JUPYTER_MLOPS_RUNTIME_DIR``, else
    ``$XDG_RUNTIME_DIR/jupyter-mlops``, else ``<tmp>/jupyter-mlops-<uid>``."""
    folder = os.environ.get(RUNTIME_DIR_ENV)
    if not folder and os.environ.get("XDG_RUNTIME_DIR"):
        folder = os.path.join(os.environ["XDG_RUNTIME_DIR"], "jupyter-mlops")
    if not folder:
        folder = os.path.join(tempfile.gettempdir(), f"jupyter-mlops-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise NotPrivateError(f"{folder} is not a private folder of this user (0700)")
    return folder


_package_stamp: str | None = None


def package_stamp() -> str:
    """Sizes and modification times of this package's files: an edited install is another
    package (computed once per process: ~250 stat calls)."""
    global _package_stamp
    if _package_stamp is None:
        root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        digest = hashlib.sha256()
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and d != "labextension")
            for name in sorted(f for f in files if f.endswith(".py")):
                info = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}:{info.st_size}:{info.st_mtime_ns};".encode())
        _package_stamp = digest.hexdigest()
    return _package_stamp


def import_path_stamp() -> list[tuple[str, int]]:
    """Modification times of the import path's folders, but the first: that is the command's
    own folder (``python -m``) or its script's, which a fork replaces by its client's."""
    stamps = []
    for entry in sys.path[1:]:
        with contextlib.suppress(OSError):
            stamps.append((entry, os.stat(entry or ".").st_mtime_ns))
    return stamps


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing): one starter at a time."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class OwnSocket:
    """The Unix socket a kept process (zygote or command host) listens on. It is the
    process's own only while the file at its path is the one it bound: removed (``zygotes
    --stop``) or replaced, the process should go."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)  # the starter holds the lock: nobody else binds it now
        self.listener.listen(64)
        self.inode = os.stat(path).st_ino

    def fileno(self) -> int:
        return self.listener.fileno()

    def is_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def unlink(self) -> None:
        if self.is_ours():
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def accept_same_user(self) -> socket.socket | None:
        """The next connection, if a process of this user made it (else it is closed)."""
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return None
        _pid, uid, _gid = struct.unpack(
            "3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        )
        if uid != os.getuid():
            sock.close()
            return None
        return sock

    def close(self) -> None:
        self.listener.close()

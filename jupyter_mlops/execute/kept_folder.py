"""Where kept processes listen, and the stamps their names are made of: stdlib only.

Both the kept zygotes (``kept``) and the command host (``cli_client``, the console script,
which must start in a few milliseconds) name their sockets in one private folder by what
decides what a fork of them contains. The folder and the stamps are computed here, once,
for both, with nothing imported that the console script would pay for.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile

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

"""The one rule for what the product writes under ``.mlops/``: readable by its owner only.

The store (database, artifacts) and the deployments (notebook snapshots, token hashes in the
database, logs, monitor windows with request samples) hold what other users of the machine
must not read. Folders are created 0700 and files 0600 here; the keeper and serving
processes also run with ``PRIVATE_UMASK``, so what they create is private too.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``mkdir -p`` with every folder it creates owner-only (existing ones are left alone)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and owner-only unless it exists (then it is left as it is)."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(descriptor)
    return path


def open_private_log(path: Path) -> int:
    """A descriptor appending to ``path``, created owner-only when new (for a child's stderr)."""
    private_dir(path.parent)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)

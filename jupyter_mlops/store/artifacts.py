"""Content-addressed blob files: ``<root>/<sha[:2]>/<sha>``, each stored once.

Bytes are streamed into a temporary file inside the root (same file system, so the final
``os.replace`` is atomic), hashed on the way, flushed and fsynced, then moved into place.
A crash or a full disk mid-write leaves at most a ``.incoming-*`` file, never a partial blob
under a real name; the store adds the database row only once the blob is in place. Temporary
files a killed process left behind are removed when the store opens.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from .private import private_dir

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
INCOMING = ".incoming-"
STALE_SECONDS = 24 * 3600
MAX_PARALLEL_WRITES = 8

_pool: ThreadPoolExecutor | None = None  # the writers, started once (not for every run)
_pool_lock = threading.Lock()


def _writers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_PARALLEL_WRITES, thread_name_prefix="mlops-blob")
        return _pool


def _no_writers_after_fork() -> None:
    """A forked child has none of its parent's threads: it starts writers of its own."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_no_writers_after_fork)

_Fill = Callable[["_HashingFile"], None]


class BlobStore:
    """Files named by their sha256 under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def fetch(self, sha256: str, label: str) -> Path:
        """The file of blob ``sha256`` (the same call as on a remote store: see
        ``remote_artifacts.open_blobs``); FileNotFoundError naming ``label`` if it is gone."""
        found = self.path(sha256)
        if not found.is_file():
            raise FileNotFoundError(f"the bytes of {label} are missing at {found}")
        return found

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store ``data``; returns (sha256, size)."""
        digest = hashlib.sha256(data).hexdigest()
        if self.path(digest).is_file():
            return digest, len(data)

        def copy(out: _HashingFile) -> None:
            out.write(data)

        return self._write(copy)

    def put_file(self, source: str | Path) -> tuple[str, int]:
        """Copy the file at ``source`` in chunks; returns (sha256, size)."""
        with open(source, "rb") as stream:
            return self.put_stream(stream)

    def put_files(self, sources: Sequence[str | Path]) -> list[tuple[str, int]]:
        """``put_file`` for several files at once, side by side: on ext4 (and most journaling
        file systems) concurrent fsyncs share one journal commit, so a run's three small
        artifacts cost about one fsync instead of three (~4 ms against ~12 ms each here)."""
        if len(sources) < 2:
            return [self.put_file(source) for source in sources]
        return list(_writers().map(self.put_file, sources))

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Copy a readable binary stream to its end; returns (sha256, size)."""

        def copy(out: _HashingFile) -> None:
            while chunk := stream.read(CHUNK):
                out.write(chunk)

        return self._write(copy)

    def _write(self, fill: _Fill) -> tuple[str, int]:
        private_dir(self.root)
        descriptor, name = tempfile.mkstemp(prefix=INCOMING, dir=self.root)
        temporary = Path(name)
        try:
            with _HashingFile(os.fdopen(descriptor, "wb")) as out:
                fill(out)
                out.flush()
                digest, size = out.hexdigest(), out.size
                target = self.path(digest)
                if target.is_file():  # the same bytes are stored (and synced) already:
                    temporary.unlink()  # no fsync for a copy that is thrown away
                    return digest, size
                os.fsync(out.fileno())
            private_dir(target.parent)
            os.replace(temporary, target)
            _fsync_directory(target.parent)
            return digest, size
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def remove_stale(self, older_than: float = STALE_SECONDS) -> int:
        """Delete ``.incoming-*`` files left by processes that died mid-write."""
        if not self.root.is_dir():
            return 0
        removed = 0
        cutoff = time.time() - older_than
        for leftover in self.root.glob(INCOMING + "*"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        if removed:
            logger.info("removed %d unfinished artifact file(s) under %s", removed, self.root)
        return removed


class _HashingFile:
    """A write-only file that hashes and counts what goes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        written = self._raw.write(data)
        self._hash.update(data)
        self.size += len(data)
        return written

    def flush(self) -> None:
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._raw.close()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

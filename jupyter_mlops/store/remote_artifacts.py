"""Content-addressed blobs at any fsspec URL (``s3://bucket/prefix``, ``gs://…``, ``file://…``).

The layout is the local folder's (``<url>/<sha[:2]>/<sha>``), so one bucket is shared by every
process of a team and equal bytes are stored once. Writes hash the bytes first (streaming a
local file, or spooling a stream to a local temporary file while hashing it), skip the upload
when the object exists, else upload to a temporary key and move it into place: a reader never
sees a partial object under a real name. Reads go through a local cache (the project's
artifacts folder) so everything that wants a file path (value binding, serving, downloads)
keeps working; a download is hashed while it streams and refused when the bytes differ from
their name, so a corrupted or tampered object is an error naming the blob, never bad data.

Usable without a database (a Dask worker builds one from the URL: ``open_blobs``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import StoreError
from ..project import mask_url
from .artifacts import CHUNK, INCOMING, BlobStore
from .private import private_dir

logger = logging.getLogger(__name__)

LOCAL_PROTOCOLS = {"", "file", "local"}


class CorruptBlobError(StoreError):
    """Stored bytes whose sha256 is not their name."""


def is_local_url(url: str | None) -> bool:
    """True for no URL, a plain path or a ``file://`` URL: today's local folder."""
    if not url:
        return True
    scheme = url.split("://", 1)[0] if "://" in url else ""
    return scheme in LOCAL_PROTOCOLS


def open_blobs(url: str | None, cache_dir: str | Path) -> BlobStore | RemoteBlobStore:
    """The artifact bytes at ``url`` (None or local: the folder ``cache_dir`` itself)."""
    if is_local_url(url):
        folder = url.split("://", 1)[1] if url and "://" in url else (url or cache_dir)
        return BlobStore(folder)
    assert url is not None
    return RemoteBlobStore(url, cache_dir)


class RemoteBlobStore:
    """Blobs named by their sha256 under an fsspec URL, cached (hash-checked) in ``cache_dir``."""

    def __init__(self, url: str, cache_dir: str | Path) -> None:
        import fsspec  # type: ignore[import-untyped]

        self.url = url.rstrip("/")
        self.shown = mask_url(self.url)  # for messages: never a password or token
        self.cache = BlobStore(cache_dir)
        self.root = self.cache.root
        try:
            self._fs, self._base = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as err:
            raise StoreError(f"artifact_url {mask_url(url)!r}: {err}") from None
        self._base = self._base.rstrip("/")

    def key(self, sha256: str) -> str:
        return f"{self._base}/{sha256[:2]}/{sha256}"

    def path(self, sha256: str) -> Path:
        """The local copy's path (it may not be there yet: ``fetch`` brings it)."""
        return self.cache.path(sha256)

    # -- writing -----------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        if not self._exists(digest):
            self._upload(digest, lambda temporary: self._fs.pipe_file(temporary, data))
        return digest, len(data)

    def put_file(self, source: str | Path) -> tuple[str, int]:
        """Hash the local file (streamed), then upload it unless the same bytes are there."""
        digest, size = file_sha256(source)
        if not self._exists(digest):
            self._upload(digest, lambda temporary: self._fs.put_file(str(source), temporary))
        return digest, size

    def put_files(self, sources: Sequence[str | Path]) -> list[tuple[str, int]]:
        """``put_file`` for each, one after the other (the local store writes them at once)."""
        return [self.put_file(source) for source in sources]

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Spool to a local temporary file (hashing it), then upload that file."""
        private_dir(self.root)
        descriptor, name = tempfile.mkstemp(prefix=INCOMING, dir=self.root)
        try:
            with os.fdopen(descriptor, "wb") as out:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
            return self.put_file(name)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)

    def _exists(self, sha256: str) -> bool:
        try:
            return bool(self._fs.exists(self.key(sha256)))
        except OSError as err:
            raise StoreError(f"artifact store {self.shown}: {err}") from err

    def _upload(self, sha256: str, send: Any) -> None:
        target = self.key(sha256)
        temporary = f"{self._base}/{INCOMING}{uuid.uuid4().hex}"
        try:
            send(temporary)
            self._fs.mv(temporary, target)
        except BaseException:
            with contextlib.suppress(Exception):
                self._fs.rm(temporary)
            raise

    # -- reading -----------------------------------------------------------------------------

    def fetch(self, sha256: str, label: str) -> Path:
        """The local copy of blob ``sha256``, downloaded and hash-checked if not cached yet."""
        local = self.cache.path(sha256)
        if local.is_file():
            return local
        try:
            with self._fs.open(self.key(sha256), "rb") as remote:
                digest, _ = self.cache.put_stream(remote)
        except FileNotFoundError:
            raise StoreError(
                f"the bytes of {label} are missing at {sha256[:2]}/{sha256} in {self.shown}"
            ) from None
        if digest != sha256:
            with contextlib.suppress(OSError):
                self.cache.path(digest).unlink()
            raise CorruptBlobError(
                f"the bytes of {label} at {self.shown} are corrupted: their sha256 is "
                f"{digest[:12]}…, not {sha256[:12]}…"
            )
        return local

    def remove_stale(self) -> int:
        return self.cache.remove_stale()


def file_sha256(path: str | Path) -> tuple[str, int]:
    """The sha256 and size of a file, read in chunks (never whole into memory)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size

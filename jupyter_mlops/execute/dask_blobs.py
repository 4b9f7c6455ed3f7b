"""Large run files through the shared artifact store, not through Dask's messages.

With a shared artifact store configured (``c.MLOps.artifact_url = "s3://…"``), a Dask run's
large files take the direct path: the submitter puts a large staged input into the store
(content-addressed, so an input that came from an earlier run's artifact is already there
and is not uploaded again) and sends only its sha256; the worker fetches it from the store
(hash-checked) into a cache in its own folder. After the run the worker puts each large file
it wrote into the store itself and sends back only the sha256; the submitter's copy comes from
the store, and ``Runner._ingest`` then finds the bytes there already (nothing is uploaded
twice). Small files (metrics, saved parameters, most output notebooks) still travel with
the task: a round trip to the store costs more than a few kilobytes in a Dask message.

Without an artifact URL (the local folder, which a worker on another machine cannot see),
every file travels with the task as before.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

from ..store.remote_artifacts import RemoteBlobStore, is_local_url, open_blobs

DIRECT_BYTES = 64 * 1024  # files this large or larger go through the artifact store
CACHE = "mlops-artifacts"  # a worker's cache of fetched blobs, kept across its runs

Ref = tuple[str, int]  # sha256, size


def shared_blobs(artifact_url: str | None, cache_dir: str | Path) -> RemoteBlobStore | None:
    """The shared artifact store both sides can reach (None: files travel with the task)."""
    if is_local_url(artifact_url):
        return None
    blobs = open_blobs(artifact_url, cache_dir)
    assert isinstance(blobs, RemoteBlobStore)
    return blobs


def pack(
    folder: Path,
    blobs: RemoteBlobStore | None,
    *,
    skip: tuple[str, ...] = (),
    sent: Collection[str] = (),
) -> tuple[dict[str, bytes], dict[str, Ref]]:
    """Every file under ``folder`` (but those under ``skip`` and those ``sent`` already):
    small ones as bytes, large ones put in ``blobs`` and named by their sha256."""
    files: dict[str, bytes] = {}
    refs: dict[str, Ref] = {}
    if not folder.is_dir():
        return files, refs
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or relative.startswith(skip) or relative in sent:
            continue
        if blobs is not None and path.stat().st_size >= DIRECT_BYTES:
            refs[relative] = blobs.put_file(path)  # skipped when the bytes are there
        else:
            files[relative] = path.read_bytes()
    return files, refs


def unpack(refs: dict[str, Ref], folder: Path, blobs: RemoteBlobStore | None) -> None:
    """Place each referenced blob at its relative path under ``folder`` (hash-checked)."""
    if refs and blobs is None:
        raise ValueError("files were sent through an artifact store this side cannot reach")
    for relative, (sha256, _size) in refs.items():
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise ValueError(f"refusing a returned file outside the run's folder: {relative}")
        assert blobs is not None
        cached = blobs.fetch(sha256, f"run file {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target)  # a copy: the run may change its inputs in place

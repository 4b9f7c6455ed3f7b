"""Stored values read back, checked first: the bytes must match the sha256 the store recorded.

Every path that hands a stored value to code goes through here: the inputs a one-function
run stages for its kernel (from ``--from RUN``, the newest producing run, or an upstream run
just made) and the bound inputs a served function loads. A value may be a pickle, and
unpickling runs code, so a file changed on disk after it was stored must never reach it:
the mismatch is an error that names the artifact. Light (standard library only) so the
serving process can use it without importing the executor.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..convert.runtime_io import mlops_load
from ..errors import StoreError

if TYPE_CHECKING:
    from ..store import Artifact

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredValue:
    """Where a value's bytes are and what they must hash to; ``label`` names it in errors."""

    path: str
    sha256: str
    label: str  # "artifact train/model (3f2a…) of run 9c1e…"

    @classmethod
    def of(cls, artifact: Artifact) -> StoredValue:
        return cls(
            str(artifact.path),
            artifact.sha256,
            describe(artifact.name, artifact.id, artifact.run_id),
        )


def describe(name: str, artifact_id: str, run_id: str) -> str:
    return f"artifact {name} ({artifact_id[:12]}) of run {run_id[:12]}"


def check_value(value: StoredValue) -> None:
    """Hash the stored file (in chunks) and compare, without loading it."""
    digest = hashlib.sha256()
    try:
        with open(value.path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise _missing(value) from None
    _check(value, digest.hexdigest())


def load_value(value: StoredValue) -> Any:
    """The value, decoded from bytes read once and checked (pickle included)."""
    data = _read(value)
    _check(value, hashlib.sha256(data).hexdigest())
    return mlops_load(io.BytesIO(data))


def copy_value(value: StoredValue, target: Path) -> None:
    """Copy the bytes to ``target`` (a run's private folder), hashing them on the way.

    The kernel reads the copy, which no one else writes, so checking what was copied is
    checking what the kernel will load. On a mismatch the copy is removed.
    """
    digest = hashlib.sha256()
    try:
        with open(value.path, "rb") as source, open(target, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except FileNotFoundError:
        raise _missing(value) from None
    try:
        _check(value, digest.hexdigest())
    except StoreError:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise


def _read(value: StoredValue) -> bytes:
    try:
        with open(value.path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise _missing(value) from None


def _check(value: StoredValue, found: str) -> None:
    if found != value.sha256:
        raise StoreError(
            f"{value.label}: the stored bytes do not match the sha256 recorded for them "
            f"(expected {value.sha256[:12]}, found {found[:12]}); the file was changed or "
            "damaged on disk, so it is not loaded",
            hint="run the function that produced it again",
        )


def _missing(value: StoredValue) -> StoreError:
    return StoreError(f"{value.label}: its stored bytes are missing at {value.path}")

"""What a data set is, for lineage: a full-content sha256, its size and (when cheap) its schema.

Used in two places: inside the kernel by ``log_input`` (so standard library at import time;
pandas and pyarrow only when the value or file calls for them) and by the runner for files
whose paths were given as parameters. The hash covers every byte (streamed in 1 MiB chunks,
never the whole file in memory, never a sample): two reads with the same hash read the same
data. A DataFrame is hashed through pandas' row hashes of every row and column, plus its
column names and dtypes, so a renamed column or a changed cell changes the hash.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import os
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024
MAX_PATH = 4096
MAX_COLUMNS = 1000  # a schema wider than this is recorded as its first 1000 columns


def describe_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"uri", "sha256", "size", "schema"}`` of a file (schema: None when unknown)."""
    resolved = Path(path).resolve()
    digest, size = hashlib.sha256(), 0
    with open(resolved, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {
        "uri": str(resolved),
        "sha256": digest.hexdigest(),
        "size": size,
        "schema": file_schema(resolved),
    }


def describe_frame(frame: Any) -> dict[str, Any]:
    """The same for a pandas DataFrame: no uri; size is its in-memory bytes."""
    import pandas as pd

    digest = hashlib.sha256()
    schema = frame_schema(frame)
    digest.update(repr(schema).encode())
    hashed = pd.util.hash_pandas_object(frame, index=True)
    digest.update(hashed.to_numpy().tobytes())
    return {
        "uri": None,
        "sha256": digest.hexdigest(),
        "size": int(frame.memory_usage(index=True, deep=True).sum()),
        "schema": schema,
    }


def frame_schema(frame: Any) -> list[dict[str, str]]:
    return [
        {"name": str(name), "type": str(dtype)}
        for name, dtype in list(frame.dtypes.items())[:MAX_COLUMNS]
    ]


def file_schema(path: Path) -> list[dict[str, str]] | None:
    """Columns of a CSV (its header) or a parquet file (pyarrow's schema, if installed)."""
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".tsv"}:
            with open(path, encoding="utf-8", newline="") as handle:
                head = handle.read(64 * 1024)
            delimiter = "\t" if suffix == ".tsv" else ","
            header = next(csv.reader(io.StringIO(head), delimiter=delimiter), [])
            return [{"name": name, "type": "unknown"} for name in header[:MAX_COLUMNS]]
        if suffix in {".parquet", ".pq"}:
            try:  # optional: imported by name so type checking does not need it installed
                parquet: Any = importlib.import_module("pyarrow.parquet")
            except ImportError:
                return None
            schema = parquet.read_schema(path)
            return [{"name": field.name, "type": str(field.type)} for field in schema[:MAX_COLUMNS]]
    except (OSError, UnicodeDecodeError, ValueError, csv.Error):
        return None  # a schema is a courtesy: the hash and size are what lineage relies on
    return None


def parameter_files(parameters: dict[str, Any], cwd: Path) -> list[dict[str, Any]]:
    """Each parameter whose value names an existing file (from ``cwd``), described."""
    found: list[dict[str, Any]] = []
    for name, value in sorted(parameters.items()):
        if not isinstance(value, str) or not value or len(value) > MAX_PATH or "\0" in value:
            continue
        candidate = cwd / os.path.expanduser(value)
        try:
            if not candidate.is_file():
                continue
            described = describe_file(candidate)
        except OSError:
            continue  # unreadable: not a data set we can vouch for
        found.append({"name": name, "source": "parameter", **described})
    return found

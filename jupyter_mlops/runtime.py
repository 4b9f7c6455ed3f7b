"""The in-notebook API: ``log_metric``, ``log_artifact``, ``log_input``, ``log_reference``.

A tracked run (``jupyter mlops run``, a sweep, the sidebar) points the kernel at a private
run folder through the ``JUPYTER_MLOPS_RUN_DIR`` environment variable; these functions append
to it and the executor moves what they wrote into the store when the run ends. That works the
same under our ``mlops`` engine and under stock papermill, because both only need the
environment the kernel was started with.

Outside a tracked run (an interactive kernel, a plain ``papermill`` call) nothing is recorded,
and the first call says so with a ``RuntimeWarning``: nothing is lost silently, and the
notebook runs unchanged either way.

Standard library only: this module is imported inside user kernels.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

RUN_DIR_VARIABLE = "JUPYTER_MLOPS_RUN_DIR"
METRICS_FILE = "metrics.jsonl"
ARTIFACTS_FILE = "artifacts.jsonl"
ARTIFACTS_DIR = "artifacts"
INPUTS_FILE = "inputs.jsonl"
ARTIFACT_KINDS = ("dataset", "model", "file", "notebook", "value")

_warned = False


def run_dir() -> Path | None:
    """The current tracked run's folder, or None outside a tracked run."""
    value = os.environ.get(RUN_DIR_VARIABLE)
    return Path(value) if value else None


def log_metric(name: str, value: float) -> float:
    """Record a number as the run's metric ``name`` (the last value logged wins)."""
    _check_name(name, "metric")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy scalars and the like
        except (TypeError, ValueError):
            raise TypeError(
                f"log_metric({name!r}): expected a number, got {type(value).__name__}"
            ) from None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"log_metric({name!r}): {number} is not a finite number")
    folder = _folder("log_metric", name)
    if folder is not None:
        _append(folder / METRICS_FILE, {"name": name, "value": number})
    return number


def log_artifact(source: Any, name: str | None = None, *, kind: str | None = None) -> str:
    """Keep a file (a path) or a value as an artifact of the run; returns its name.

    A path is copied as is (kind ``file`` unless given). Any other value is stored the way
    values travel between functions (JSON, .npy, pandas table JSON, pickle as the fallback:
    see ``jupyter_mlops.convert.runtime_io``).
    """
    is_path = isinstance(source, (str, os.PathLike))
    if name is None:
        if not is_path:
            raise TypeError("log_artifact(value): a name is required for a value")
        name = Path(source).name
    _check_name(name, "artifact")
    if kind is not None and kind not in ARTIFACT_KINDS:
        raise ValueError(f"log_artifact({name!r}): kind must be one of {', '.join(ARTIFACT_KINDS)}")
    if is_path and not Path(source).is_file():
        raise FileNotFoundError(f"log_artifact: no file {str(source)!r}")
    folder = _folder("log_artifact", name)
    if folder is None:
        return name
    target_dir = folder / ARTIFACTS_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    stored = f"{len(list(target_dir.iterdir())):04d}"
    if is_path:
        shutil.copyfile(source, target_dir / stored)
        kind = kind or "file"
    else:
        from .convert.runtime_io import mlops_save

        mlops_save(name, source, str(target_dir / stored))
        kind = kind or kind_of_value_file(target_dir / stored)
    _append(folder / ARTIFACTS_FILE, {"name": name, "kind": kind, "file": stored})
    return name


def log_reference(data: Any, predictions: Any = None) -> str:
    """Record the distribution of a deployment's future inputs: the training data's columns.

    Each column is kept as a binned summary (quantile bins for numbers, frequencies for
    categories), never its rows. A deployment of a function that uses this run's outputs
    counts every request into the same bins and reports drift per field against it.
    ``predictions``: what the model answers on that data (a sequence, or columns by name
    for a dict answer), the reference of the prediction's own distribution; without it, a
    deployment takes its first 200 answers as that reference.
    """
    from .drift.recorded import REFERENCE_ARTIFACT, reference_payload

    payload = reference_payload(data, predictions)
    return log_artifact(payload, REFERENCE_ARTIFACT, kind="value")


def log_input(source: Any, name: str | None = None) -> str:
    """Record a data set the run reads (a file path or a pandas DataFrame); returns its name.

    Lineage keeps its full-content sha256, size and schema (a DataFrame's columns and dtypes,
    a CSV header, a parquet schema), so ``jupyter mlops lineage`` can say exactly what data
    is behind a version or deployment. The data itself is not copied.
    """
    from .datasets import describe_file, describe_frame

    is_path = isinstance(source, (str, os.PathLike))
    if name is None:
        if not is_path:
            raise TypeError("log_input(value): a name is required for a DataFrame")
        name = Path(source).name
    _check_name(name, "input")
    if is_path:
        if not Path(source).is_file():
            raise FileNotFoundError(f"log_input: no file {str(source)!r}")
        described = describe_file(source)
    elif hasattr(source, "dtypes") and hasattr(source, "memory_usage"):
        described = describe_frame(source)
    else:
        raise TypeError(
            f"log_input({name!r}): expected a file path or a pandas DataFrame, "
            f"got {type(source).__name__}"
        )
    folder = _folder("log_input", name)
    if folder is not None:
        _append(folder / INPUTS_FILE, {"name": name, "source": "log_input", **described})
    return name


def kind_of_value_file(path: str | os.PathLike[str]) -> str:
    """The artifact kind of a file written by ``runtime_io.mlops_save``, from its first bytes.

    Arrays and tables are datasets, pickled objects (fitted models…) are models, the rest
    (JSON of plain values) are values.
    """
    with open(path, "rb") as handle:
        head = handle.read(40)
    if head.startswith((b"\x93NUMPY", b'{"__mlops__": "pandas.')):
        return "dataset"
    if head.startswith(b"\x80"):
        return "model"
    return "value"


def _folder(caller: str, name: str) -> Path | None:
    global _warned
    folder = run_dir()
    if folder is None and not _warned:
        _warned = True
        warnings.warn(
            f"{caller}({name!r}): not inside a tracked run, so nothing is recorded; "
            "run the notebook with `jupyter mlops run` (or the MLOps sidebar) to track it",
            RuntimeWarning,
            stacklevel=3,
        )
    return folder


def _check_name(name: str, what: str) -> None:
    parts = name.split("/") if isinstance(name, str) else []
    if (
        not parts
        or any(part in {"", ".", ".."} or part.startswith(".") for part in parts)
        or any(ord(char) < 32 or char in "\\:" for char in name)
    ):
        raise ValueError(
            f"{what} name {name!r} is not allowed: use non-empty words separated by '/', "
            "without '..', leading dots, backslashes, colons or control characters"
        )


def _append(path: Path, record: dict[str, Any]) -> None:
    # One write() of one line: lines from one process never interleave.
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")

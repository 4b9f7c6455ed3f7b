"""References as runs record them, and found again for a deployment's request fields.

A run records a reference explicitly with ``log_reference(df)`` (the runtime API): one
artifact, ``mlops-reference``, holding each column's binned summary, never its rows. When no
run behind a deployment logged one, the training data is used: a table (a pandas DataFrame
output, stored as a ``dataset`` artifact) of the runs that produced the bound inputs whose
columns include request fields is summarized when the deployment starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .prediction import is_prediction, logged_predictions
from .reference import DriftError, from_dict, summarize

if TYPE_CHECKING:
    from ..store import Artifact, Store

logger = logging.getLogger(__name__)

REFERENCE_ARTIFACT = "mlops-reference"


def reference_payload(data: Any, predictions: Any = None) -> dict[str, Any]:
    """The summaries of every column of ``data`` (a DataFrame, or a mapping name -> values),
    and of ``predictions`` as prediction fields (``prediction.py``) when given."""
    columns = _columns(data)
    if not columns:
        raise DriftError("log_reference: the data has no columns")
    if predictions is not None:
        columns.update(logged_predictions(predictions))
    return {"fields": {name: summarize(name, values).to_dict() for name, values in columns.items()}}


def _columns(data: Any) -> dict[str, Iterable[object]]:
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # a pandas DataFrame
        return {str(name): list(data[name]) for name in data.columns}
    if isinstance(data, Mapping):
        return {str(name): list(values) for name, values in data.items()}
    raise DriftError(
        f"log_reference: expected a DataFrame or a mapping of column -> values, "
        f"got {type(data).__name__}"
    )


def references_for(
    store: Store, run_ids: Sequence[str], fields: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], str]:
    """The references of ``fields`` from these runs, and where they came from.

    A logged reference wins; else the first dataset output with matching columns. Fields no
    reference covers are left out (the deployment says which are watched).
    """
    wanted = set(fields)
    runs = [store.get_run(run_id) for run_id in dict.fromkeys(run_ids)]
    for run in runs:
        for artifact in run.artifacts:
            if artifact.name == REFERENCE_ARTIFACT:
                stored = _load(artifact)
                logged = stored.get("fields", {}) if isinstance(stored, dict) else {}
                found = _matching(logged, wanted | {n for n in logged if is_prediction(n)})
                if found:
                    return found, f"log_reference in run {run.id[:12]}"
    for run in runs:
        for artifact in run.artifacts:
            if artifact.kind != "dataset":
                continue
            table = _load(artifact)
            columns = getattr(table, "columns", None)
            if columns is None or not wanted & {str(c) for c in columns}:
                continue
            try:
                summaries = reference_payload(table[[c for c in columns if str(c) in wanted]])
            except DriftError as err:
                logger.warning("no reference from %s: %s", artifact.name, err)
                continue
            return summaries["fields"], f"training data {artifact.name} of run {run.id[:12]}"
    return {}, "no reference: log_reference(df) in the training function records one"


def _matching(fields: Mapping[str, Any], wanted: set[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, data in fields.items():
        if name in wanted:
            from_dict(data)  # a damaged reference fails here, naming the field
            found[name] = dict(data)
    return found


def _load(artifact: Artifact) -> Any:
    from ..execute.value_files import StoredValue, load_value

    return load_value(StoredValue.of(artifact))

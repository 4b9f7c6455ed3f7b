"""Checks on what callers hand the store, each failing with a StoreError that names the field.

They run before any transaction starts, so a bad value never costs a lock or leaves a row.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

from ..errors import StoreError
from .records import ARTIFACT_KINDS

MAX_NAME = 255
MAX_ARTIFACT_NAME = 500


def text(value: object, field: str, *, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        raise StoreError(f"{field} must be a non-empty string of at most {limit} characters")
    return value


def json_object(value: object, field: str) -> dict[str, Any]:
    """A dict that JSON can store as it is (a copy, so later changes by the caller don't leak)."""
    if not isinstance(value, Mapping):
        raise StoreError(f"{field} must be a dict, not {type(value).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(value))))
    except (TypeError, ValueError) as err:
        raise StoreError(f"{field} cannot be stored as JSON: {err}") from None


def metrics(values: Mapping[str, object], run_id: str) -> dict[str, float]:
    """Finite real numbers by name; NaN, infinities, bools and non-numbers are refused."""
    if not isinstance(values, Mapping):
        raise StoreError(f"metrics of run {run_id} must be a dict of name to number")
    checked: dict[str, float] = {}
    for name, value in values.items():
        text(name, f"metric name {name!r} of run {run_id}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise StoreError(
                f"metric {name!r} of run {run_id} must be a number, not {type(value).__name__}"
            )
        number = float(value)
        if not math.isfinite(number):
            raise StoreError(f"metric {name!r} of run {run_id} is {number}, not a finite number")
        checked[name] = number
    return checked


def error(value: Mapping[str, Any] | None, run_id: str) -> dict[str, Any] | None:
    """``{"cell": int | None, "ename": str, "evalue": str}`` (extra JSON fields are kept)."""
    if value is None:
        return None
    checked = json_object(value, f"error of run {run_id}")
    cell = checked.get("cell")
    if cell is not None and (isinstance(cell, bool) or not isinstance(cell, int)):
        raise StoreError(f"error.cell of run {run_id} must be an int or None, not {cell!r}")
    if not isinstance(checked.get("ename"), str):
        raise StoreError(f"error.ename of run {run_id} must be a string")
    checked["cell"] = cell
    checked["evalue"] = str(checked.get("evalue", ""))
    return checked


def kind(value: str, name: str) -> str:
    if value not in ARTIFACT_KINDS:
        raise StoreError(
            f"artifact {name!r} has unknown kind {value!r}",
            hint=f"one of {', '.join(ARTIFACT_KINDS)}",
        )
    return value

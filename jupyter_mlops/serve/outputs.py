"""A function's return values as JSON.

Plain values pass through; numpy scalars and arrays become numbers and (nested) lists;
a pandas DataFrame becomes a list of row objects, a Series an object keyed by its index;
dates and timestamps ISO 8601 text; a float that is NaN or infinite becomes null (JSON has
no such number). Anything else is an UnconvertibleOutputError naming the output, and the app
answers 500 with that name (never a repr of the value).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import Any


class UnconvertibleOutputError(Exception):
    def __init__(self, output: str, where: str, kind: str) -> None:
        super().__init__(f"output {output!r} cannot be sent as JSON: {where} is a {kind}")
        self.output = output
        self.kind = kind


# built once (json.dumps with options builds one per call); to_json leaves no cycles to check
_ENCODER = json.JSONEncoder(
    allow_nan=False, ensure_ascii=False, separators=(",", ":"), check_circular=False
)


def encode(results: list[Any], batch: bool, *, returned: str | None = None) -> bytes:
    """The response body for one result or a batch (a list of them). A function's results are
    its outputs by name; a typed def's (``returned``: its name) are what it returned."""
    if returned is not None:
        converted = [to_json(value, f"{returned}()") for value in results]
    else:
        converted = [{name: to_json(value, name) for name, value in r.items()} for r in results]
    document: Any = converted if batch else converted[0]
    return _ENCODER.encode(document).encode("utf-8")


def to_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON types; ``where`` names it in an error (``model.coef[2]``)."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is list or kind is tuple:
        return [to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {_key(k, where): to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    module = kind.__module__.split(".")[0]
    if module == "numpy":
        if hasattr(value, "tolist"):  # arrays and numpy scalars alike
            return to_json(value.tolist(), where)
    elif module == "pandas":
        if hasattr(value, "to_json"):  # DataFrame and Series
            orient = "records" if hasattr(value, "columns") else "index"
            try:
                return json.loads(value.to_json(orient=orient, date_format="iso"))
            except (ValueError, TypeError, OverflowError):
                pass
        elif hasattr(value, "isoformat"):  # Timestamp
            return value.isoformat()
    raise UnconvertibleOutputError(where.split("[", 1)[0], where, f"{module}.{kind.__qualname__}")


def _key(key: Any, where: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (int, float, bool)) or type(key).__module__.split(".")[0] == "numpy":
        return str(to_json(key, where))
    raise UnconvertibleOutputError(
        where.split("[", 1)[0], f"a key of {where}", type(key).__qualname__
    )

"""What the converter differential test compares of a value: a fingerprint, not the value.

Equal notebooks and modules give equal fingerprints; the fingerprint is small and printable
(JSON), so it can come back from a kernel or a subprocess as text. Numbers are rounded to 9
significant digits (the same code on the same data gives the same bits, but a sum over an
array is taken in numpy's order); arrays and frames by shape, dtype and a rounded sum; other
objects by their type's name only (a figure, a fitted model: their state has no simple text).
Run as a script it reads a pickle of ``{name: value}`` and prints the fingerprints.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

DEPTH = 3
ITEMS = 50


def fingerprint(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, str) else value[:200]
    if isinstance(value, float):
        return _round(value)
    kind = type(value).__module__.split(".")[0] + "." + type(value).__qualname__
    if hasattr(value, "__next__"):  # an iterator: which kind is an implementation detail
        return {"type": "iterator"}
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy arrays, pandas Series
        shape = list(value.shape)
        return {"type": kind, "shape": shape, "dtype": str(value.dtype), **_sum(value)}
    if hasattr(value, "shape") and hasattr(value, "columns"):  # pandas DataFrames
        columns = [str(c) for c in value.columns][:ITEMS]
        return {"type": kind, "shape": list(value.shape), "columns": columns}
    if depth < DEPTH and isinstance(value, list | tuple):
        items = [fingerprint(v, depth + 1) for v in list(value)[:ITEMS]]
        return {"type": kind, "items": items, "len": len(value)}
    if depth < DEPTH and isinstance(value, dict):
        pairs = [[str(k), fingerprint(v, depth + 1)] for k, v in list(value.items())[:ITEMS]]
        return {"type": kind, "items": pairs, "len": len(value)}
    return {"type": kind}


def _round(value: float) -> Any:
    if not math.isfinite(value):
        return repr(value)
    return float(f"{value:.9g}")


def _sum(array: Any) -> dict[str, Any]:
    try:
        import numpy

        data = numpy.asarray(array)
        if data.dtype.kind in "biuf" and data.size:
            finite = data[numpy.isfinite(data)] if data.dtype.kind == "f" else data
            return {"sum": _round(float(finite.sum()))}
    except Exception:  # an object array, a ragged one: its shape says enough
        pass
    return {}


def fingerprints(values: dict[str, Any]) -> dict[str, Any]:
    return {name: fingerprint(value) for name, value in values.items()}


if __name__ == "__main__":
    import pickle

    with open(sys.argv[1], "rb") as stream:
        print(json.dumps(fingerprints(pickle.load(stream))))

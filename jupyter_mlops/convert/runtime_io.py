"""Values passed between functions as files: the format each kind of value is stored in.

This module is importable, and its source is also copied verbatim into generated notebooks
and KFP components (they must run where jupyter_mlops is not installed), so it uses only the
standard library at import time and must stay self-contained.

Formats, chosen by the value, recognized on load by the file's first bytes:

- JSON for plain values (None, bool, int, float, str; lists and str-keyed dicts of them);
  tuples and non-str-keyed dicts are wrapped as ``{"__mlops__": "tuple", "items": [...]}``;
- ``.npy`` (``numpy.save``, ``allow_pickle=False``) for numeric numpy arrays;
- pandas DataFrame/Series as JSON ``orient="table"`` (schema and index kept), wrapped;
- pickle only as the declared fallback for anything else (fitted models, custom objects),
  announced on stderr each time. Unpickling runs code: these files are only ever read by the
  functions of the same pipeline that wrote them; never load them from an untrusted place.
"""

import json
import pickle
import sys
from typing import Any

_MLOPS_KEY = "__mlops__"
_MLOPS_NPY = b"\x93NUMPY"
_MLOPS_PICKLE = b"\x80"


def mlops_save(name: str, value: Any, path: str) -> str:
    """Write ``value`` to ``path``; return the format used."""
    fmt, payload = _mlops_encode(value)
    if fmt == "pickle":
        print(
            f"[mlops] {name}: {type(value).__name__} stored with pickle (no portable format)",
            file=sys.stderr,
        )
    with open(path, "wb") as handle:
        if fmt == "npy":
            import numpy

            numpy.save(handle, value, allow_pickle=False)
        else:
            handle.write(payload)
    return fmt


def mlops_load(path: Any) -> Any:
    """Read a value written by ``mlops_save`` from a path (or from an open binary file, so a
    caller can decode bytes it has already checked)."""
    if hasattr(path, "read"):
        return _mlops_read(path)
    with open(path, "rb") as handle:
        return _mlops_read(handle)


def _mlops_read(handle: Any) -> Any:
    head = handle.read(len(_MLOPS_NPY))
    handle.seek(0)
    if head.startswith(_MLOPS_NPY):
        import numpy

        return numpy.load(handle, allow_pickle=False)
    if head.startswith(_MLOPS_PICKLE):
        return pickle.load(handle)  # written by an upstream function of this pipeline
    return _mlops_decode(json.loads(handle.read().decode("utf-8")))


def _mlops_encode(value: Any) -> tuple[str, bytes]:
    if _mlops_is_plain(value):
        return "json", json.dumps(_mlops_wrap(value)).encode("utf-8")
    kind = type(value).__module__.split(".")[0] + "." + type(value).__name__
    if kind == "numpy.ndarray" and value.dtype.kind in "biufcmMSU":
        return "npy", b""
    if kind in ("pandas.DataFrame", "pandas.Series"):
        encoded = _mlops_pandas(value, kind)
        if encoded is not None:
            return "json", encoded
    return "pickle", pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _mlops_pandas(value: Any, kind: str) -> bytes | None:
    """The table form, if it gives back an equal object (else the caller falls back)."""
    try:
        table = json.loads(value.to_json(orient="table"))
        name = value.name if kind == "pandas.Series" else None
        text = json.dumps({_MLOPS_KEY: kind, "table": table, "name": name})
        back = _mlops_decode(json.loads(text))
        same = bool(back.equals(value)) and (name is None or back.name == name)
    except (ValueError, TypeError, NotImplementedError, KeyError):
        return None
    return text.encode("utf-8") if same else None


def _mlops_is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return type(value) in (type(None), bool, int, float, str)
    if type(value) in (list, tuple):
        return all(_mlops_is_plain(item) for item in value)
    if type(value) is dict:
        return all(_mlops_is_plain(k) and _mlops_is_plain(v) for k, v in value.items())
    return False


def _mlops_wrap(value: Any) -> Any:
    if type(value) is tuple:
        return {_MLOPS_KEY: "tuple", "items": [_mlops_wrap(v) for v in value]}
    if type(value) is list:
        return [_mlops_wrap(v) for v in value]
    if type(value) is dict:
        if all(type(k) is str for k in value) and _MLOPS_KEY not in value:
            return {k: _mlops_wrap(v) for k, v in value.items()}
        return {
            _MLOPS_KEY: "dict",
            "items": [[_mlops_wrap(k), _mlops_wrap(v)] for k, v in value.items()],
        }
    return value


def _mlops_decode(data: Any) -> Any:
    if isinstance(data, list):
        return [_mlops_decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    kind = data.get(_MLOPS_KEY)
    if kind == "tuple":
        return tuple(_mlops_decode(v) for v in data["items"])
    if kind == "dict":
        return {_mlops_decode(k): _mlops_decode(v) for k, v in data["items"]}
    if kind in ("pandas.DataFrame", "pandas.Series"):
        import io

        import pandas

        frame = pandas.read_json(io.StringIO(json.dumps(data["table"])), orient="table")
        if kind == "pandas.Series":
            series = frame.iloc[:, 0]
            series.name = data.get("name")
            return series
        return frame
    return {k: _mlops_decode(v) for k, v in data.items()}


def runtime_source(*, compact: bool = False) -> str:
    """This module's code (not its docstring), for pasting into generated code.

    ``compact`` drops docstrings, comments and blank lines: a KFP pipeline carries one copy
    per component in its YAML, and the YAML's size is what compiling it costs.
    """
    from .pasting import module_body

    return module_body(__name__, compact=compact)

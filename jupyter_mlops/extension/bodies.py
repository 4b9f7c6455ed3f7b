"""Request bodies and query strings, checked field by field before the service sees them.

Each route declares its fields; anything else is refused, so a misspelt field is a 400
that names it rather than an option silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..json_input import JSONInputError, loads
from .errors import RequestError

# Query arguments Jupyter itself may add to any URL.
_SERVER_QUERY = frozenset({"token", "_xsrf"})

_KIND_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "an array",
    object: "a JSON value",
}


@dataclass(frozen=True)
class Field:
    kind: type
    required: bool = False
    items: type | None = None  # for list: each item's kind; for dict: each value's kind

    def check(self, name: str, value: Any) -> Any:
        if not _is(value, self.kind):
            raise RequestError(
                f"field {name!r} must be {_KIND_NAMES[self.kind]}, not {_json_kind(value)}",
                field=name,
            )
        if self.items is not None:
            members = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in members:
                if not _is(item, self.items):
                    raise RequestError(
                        f"field {name!r}: {key!r} must be {_KIND_NAMES[self.items]}, "
                        f"not {_json_kind(item)}",
                        field=name,
                    )
        return float(value) if self.kind is float else value


def decode(raw: bytes) -> Any:
    """The JSON value of a request body (empty: ``{}``), read strictly (``json_input``)."""
    if not raw.strip():
        return {}
    try:
        return loads(raw)
    except JSONInputError as err:
        raise RequestError(err.message, field=err.field) from None


def read_body(raw: bytes, fields: Mapping[str, Field], decoded: Any = None) -> dict[str, Any]:
    """The JSON object in ``raw`` (or ``decoded`` from it already), with only the declared
    fields, each of its kind."""
    data = decode(raw) if decoded is None else decoded
    if not isinstance(data, dict):
        raise RequestError(f"the request body must be a JSON object, not {_json_kind(data)}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RequestError(
            f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(fields))})",
            field=unknown[0],
        )
    checked = {}
    for name, spec in fields.items():
        if name not in data or data[name] is None:
            if spec.required:
                raise RequestError(f"field {name!r} is required", field=name)
            continue
        checked[name] = spec.check(name, data[name])
    return checked


def read_query(arguments: Mapping[str, list[bytes]], fields: Mapping[str, Field]) -> dict[str, Any]:
    """Query arguments as typed values: ``limit=abc`` for an integer is a 400 naming it."""
    unknown = sorted(set(arguments) - set(fields) - _SERVER_QUERY - set(_cache_busters(arguments)))
    if unknown:
        raise RequestError(
            f"unknown query argument {unknown[0]!r} (arguments: {', '.join(sorted(fields))})",
            field=unknown[0],
        )
    checked: dict[str, Any] = {}
    for name, spec in fields.items():
        values = arguments.get(name)
        if not values or values == [b""]:  # ?a= is no value
            if spec.required:
                raise RequestError(f"query argument {name!r} is required", field=name)
            continue
        if len(values) > 1:
            raise RequestError(f"query argument {name!r} is given more than once", field=name)
        try:
            text = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(f"query argument {name!r} is not UTF-8", field=name) from None
        if spec.kind is int:
            try:
                checked[name] = int(text)
            except ValueError:
                raise RequestError(
                    f"query argument {name!r} must be an integer, not {text!r}", field=name
                ) from None
        elif text:
            checked[name] = text
    return checked


def _cache_busters(arguments: Mapping[str, list[bytes]]) -> list[str]:
    """Bare timestamps such as ``?1796218925538``: JupyterLab's ServerConnection appends one to
    every request made with ``cache: 'no-store'`` (its default), so they are not mistakes."""
    return [name for name, values in arguments.items() if name.isdigit() and values == [b""]]


def _is(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):  # JSON true is not the number 1
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _json_kind(value: Any) -> str:
    for kind in (bool, str, int, float, dict, list):
        if isinstance(value, kind):
            return _KIND_NAMES[kind]
    return "null" if value is None else type(value).__name__

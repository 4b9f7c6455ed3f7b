"""How JSON from a client is read, once for every surface that takes it (REST, served endpoints).

Python's ``json`` accepts more than a service can hold: ``NaN`` and ``Infinity``, ``1e999``
(read as infinity), integers of any length (a 400-digit one overflows ``float()``, SQLite and
numpy later; past 4,300 digits ``int()`` itself refuses), nesting until the interpreter's
recursion limit (a 10,000-deep array raises RecursionError) and ``"\\ud800"``, a lone
surrogate that no UTF-8 file, log or database can store. Each of those would surface later
as a 500 far from the request. Here they are refused while reading, with the JSON path of
the value (``x``, ``[3].x``, ``content.cells[0].source``), so a surface answers 400 naming
the field.

The happy path costs one C-level decode, one regex search of the text and a walk over the
containers (not the scalars); the path of a refused number is found by a second decode,
only when there is one.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import MLOpsError

MAX_DEPTH = 64
"""Nesting deeper than this is refused (a notebook's content nests about 6 deep)."""

INT_LIMIT = 2**63
"""Integers must lie in the signed 64-bit range: what SQLite, numpy and JSON peers hold."""

# A \uD800-\uDFFF escape: the only way a lone surrogate gets into decoded text (the UTF-8
# decoder refuses encoded surrogates), so when this does not match no string needs a check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class JSONInputError(MLOpsError):
    """A client's JSON that cannot be taken as it is; ``field`` is the JSON path ("body" for
    the whole document)."""

    def __init__(self, message: str, *, field: str = "body") -> None:
        self.field = field
        super().__init__(message)


class _RefusedError(ValueError):
    """A number or constant the decoder hooks refuse (found again with its path, below)."""


class _Bad:
    """Stands for a refused number in the second decode, which looks for its path."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant_reason(name: str) -> str:
    return f"{name} is not a JSON value; send a finite number or null"


def _float_reason(text: str) -> str | None:
    return None if abs(float(text)) != float("inf") else f"{text} is out of range for a number"


def _int_reason(text: str) -> str | None:
    digits = len(text) - (text[0] == "-")
    if digits <= 19 and -INT_LIMIT <= int(text) < INT_LIMIT:
        return None
    shown = text if digits <= 24 else f"{text[:12]}… ({digits} digits)"
    return f"the integer {shown} is out of range (at most 19 digits, a signed 64-bit value)"


def _refuse_constant(name: str) -> Any:
    raise _RefusedError(_constant_reason(name))


def _refuse_float(text: str) -> float:
    reason = _float_reason(text)
    if reason is not None:
        raise _RefusedError(reason)
    return float(text)


def _refuse_int(text: str) -> int:
    reason = _int_reason(text)
    if reason is not None:
        raise _RefusedError(reason)
    return int(text)


def _mark_constant(name: str) -> _Bad:
    return _Bad(_constant_reason(name))


def _mark_float(text: str) -> float | _Bad:
    reason = _float_reason(text)
    return float(text) if reason is None else _Bad(reason)


def _mark_int(text: str) -> int | _Bad:
    reason = _int_reason(text)
    return int(text) if reason is None else _Bad(reason)


def _decoder(*, marking: bool) -> Any:
    import json

    if marking:
        return json.JSONDecoder(
            parse_constant=_mark_constant, parse_float=_mark_float, parse_int=_mark_int
        )
    return json.JSONDecoder(
        parse_constant=_refuse_constant, parse_float=_refuse_float, parse_int=_refuse_int
    )


_STRICT = _decoder(marking=False)  # built once: json.loads would build one per call
_MARKING = _decoder(marking=True)


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``raw`` (UTF-8), or a JSONInputError naming where it goes wrong."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise JSONInputError(f"the body is not UTF-8 text (byte {err.start})") from None
    else:
        text = raw
    try:
        try:
            value = _STRICT.decode(text)
        except _RefusedError:
            value = _MARKING.decode(text)  # the same text again, to find where the number is
    except RecursionError:
        raise JSONInputError(f"the body nests deeper than {max_depth} levels") from None
    except ValueError as err:
        raise JSONInputError(f"the body is not valid JSON: {err}") from None
    _walk(value, max_depth, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _walk(value: Any, max_depth: int, *, strings: bool) -> None:
    """Refuse marked numbers, nesting past ``max_depth`` and (when ``strings``) lone
    surrogates, naming the path; iterative, so depth costs no stack."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            _check_scalar(node, path, strings=strings)
            continue
        if len(path) >= max_depth:
            raise JSONInputError(
                f"{_path_text(path[:1])} nests deeper than {max_depth} levels",
                field=_path_text(path[:1]),
            )
        for key, item in items:
            if strings and isinstance(key, str) and _LONE_SURROGATE.search(key):
                _check_scalar(key, (*path, key), strings=True)
            if isinstance(item, (dict, list, _Bad)) or (strings and isinstance(item, str)):
                stack.append((item, (*path, key)))


def _check_scalar(node: Any, path: tuple[str | int, ...], *, strings: bool) -> None:
    if isinstance(node, _Bad):
        where = _path_text(path)
        raise JSONInputError(f"{where}: {node.reason}", field=where)
    if strings and isinstance(node, str):
        found = _LONE_SURROGATE.search(node)
        if found is not None:
            where = _path_text(path)
            raise JSONInputError(
                f"{where}: contains a lone surrogate (\\u{ord(found.group()):04x}), "
                "which is not text any file or database can store",
                field=where,
            )


def _path_text(path: tuple[str | int, ...]) -> str:
    """``("content", "cells", 0, "source")`` as ``content.cells[0].source``; () is "body"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:  # a key may hold the lone surrogate itself: shown escaped, so it can be sent
            shown = part.encode("utf-8", "backslashreplace").decode("utf-8")
            text += f".{shown}" if text else shown
    return text or "body"

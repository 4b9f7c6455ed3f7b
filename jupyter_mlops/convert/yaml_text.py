"""YAML text for plain data (dicts with str keys, lists, str, int, float, bool, None).

The kfp target writes a pipeline spec of a few MB for a long notebook; PyYAML's pure-Python
representer took ~0.2-0.4 s of the conversion and its import more. This writes the same
block style directly: keys sorted, mappings and lists in block style, multi-line text as
literal blocks (``|``) so component code stays readable, and any other text that is not
obviously plain as a double-quoted scalar with every unsafe character escaped. The output
reads back with any YAML 1.1/1.2 loader as the same data (tests/test_kfp_spec.py checks
that with generated values).
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

# Safe unquoted: starts with a letter, '_' or '/', then names, paths, versions, images.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./:-]*")
# Words a YAML 1.1 loader reads as booleans or null.
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
# Characters a double-quoted scalar must escape: not printable in YAML, or a line break.
_UNSAFE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
)
# In a literal block, only plain printable text and "\n" breaks.
_NOT_LITERAL = re.compile("[\t\r]|" + _UNSAFE.pattern)


def dump(data: dict[str, Any]) -> str:
    """``data`` as a YAML document (block style, keys sorted)."""
    lines: list[str] = []
    _mapping(data, 0, lines)
    return "\n".join(lines) + "\n"


def _mapping(mapping: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key in sorted(mapping):
        value = mapping[key]
        head = f"{pad}{_string(str(key))}:"
        if isinstance(value, dict) and value:
            lines.append(head)
            _mapping(value, indent + 2, lines)
        elif isinstance(value, list) and value:
            lines.append(head)
            _sequence(value, indent, lines)
        else:
            _scalar(head, value, indent + 2, lines)


def _sequence(items: list[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict) and item:
            nested: list[str] = []
            _mapping(item, indent + 2, nested)
            nested[0] = f"{pad}- {nested[0][indent + 2 :]}"
            lines += nested
        elif isinstance(item, list) and item:
            lines.append(f"{pad}-")
            _sequence(item, indent + 2, lines)
        else:
            _scalar(f"{pad}-", item, indent + 2, lines)


def _scalar(head: str, value: Any, indent: int, lines: list[str]) -> None:
    """``head value`` on one line, or ``head |`` and a literal block for multi-line text."""
    if isinstance(value, str) and _literal_block(value):
        chomp = "+" if value.endswith("\n\n") else "" if value.endswith("\n") else "-"
        lines.append(f"{head} |{chomp}")
        body = value[:-1] if value.endswith("\n") else value
        pad = " " * indent
        lines += [pad + line if line else "" for line in body.split("\n")]
    else:
        lines.append(f"{head} {_inline(value)}")


def _literal_block(text: str) -> bool:
    """Multi-line text that a literal block holds exactly: no tab, CR or unsafe character,
    and a first line with text that does not start with a space (it sets the indentation)."""
    if "\n" not in text or "\t" in text or "\r" in text:
        return False
    flat = text.replace("\n", "")
    if not (flat.isascii() and flat.isprintable()) and _NOT_LITERAL.search(text):
        return False  # (ASCII without control characters needs no search, the usual case)
    first = next((line for line in text.split("\n") if line), "")
    return bool(first) and not first.startswith(" ")  # (only breaks: a block reads as "")


def _inline(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _float(value: float) -> str:
    """As YAML 1.1 reads a float: a dot before any exponent, a signed exponent."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


@functools.lru_cache(maxsize=4096)  # keys and short values repeat in every component
def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED and not text.endswith(":"):
        return text
    quoted = json.dumps(text, ensure_ascii=False)  # JSON escapes are YAML escapes too
    return _UNSAFE.sub(_escape, quoted)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

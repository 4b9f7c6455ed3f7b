"""Cell tags, in our grammar and the peers', read into one CellTags per cell.

Our grammar (DESIGN.md) uses the ``mlops:`` prefix; an unknown ``mlops:`` tag is an error,
any other unknown tag is the user's own business and ignored, except a near miss of ours
(``mlop:fn:x``, ``mlops-fn:x``, ``mlops:function:x``): ignored too, with a "did you mean"
note, since it was surely meant for us. Peer grammars map onto ours:

=================================  =====================================
Kale 0.x / 2.x                     ours
=================================  =====================================
``imports``, ``functions``         ``mlops:setup``
``pipeline-parameters``            ``parameters`` (papermill)
``pipeline-metrics``               ``mlops:metrics`` (names listed, not code)
``step:NAME``, ``block:NAME``      ``mlops:fn:NAME``
``prev:NAME``                      ``mlops:after:NAME``
``skip``                           ``mlops:skip`` (but the cells after it continue the step)
``image:REF``                      ``mlops:image:REF``
``limit:nvidia.com/gpu:N``         ``mlops:gpu:N`` (``limit:cpu:N``, ``limit:memory:S`` alike)
``cache:enabled|disabled``         ``mlops:cache:on|off``
=================================  =====================================

MLRun / nuclio: ``mlrun-ignore`` and ``nuclio-ignore`` tags mean ``mlops:skip``; their
``# mlrun: ignore|start-code|end-code`` comment markers are read by the parser.
papermill's ``injected-parameters`` cell is skipped (the ``parameters`` cell has the schema).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import TagError

PREFIX = "mlops:"
SETUP, FUNCTION, SKIP, PARAMETERS, METRICS, METRICS_NAMES = (
    "setup",
    "function",
    "skip",
    "parameters",
    "metrics",
    "metrics-names",
)

_SIZE = re.compile(r"^\d+(\.\d+)?(E|P|T|G|M|K|Ei|Pi|Ti|Gi|Mi|Ki|k)?$")
_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_FUNCTION_NAME = re.compile(r"^[^\s:/\\]+$")
# A tag that starts like ours (``mlop:``, ``mlops-``, ``MLOps_``): checked for a near miss.
_NEAR_PREFIX = re.compile(r"^(?P<prefix>[A-Za-z]{3,7})[:\-_. ]+(?P<rest>\S.*)$")
_KEY_ALIASES = {
    "function": "fn",
    "func": "fn",
    "step": "fn",
    "block": "fn",
    "prev": "after",
    "metric": "metrics",
    "ignore": "skip",
    "imports": "setup",
}


@dataclass
class CellTags:
    """What one cell's tags say, whichever grammar they were written in."""

    roles: list[str] = field(default_factory=list)
    function: str | None = None
    after: list[str] = field(default_factory=list)
    kale_after: set[str] = field(default_factory=set)  # the after names from Kale's prev:
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # peer tags we read but cannot honour
    # Whether untagged cells that follow join this cell's role (Kale's parameters cell does,
    # papermill's does not), and whether the cell leaves the current role alone (Kale skip).
    absorbs: bool = True
    transparent: bool = False

    @property
    def role(self) -> str | None:
        return self.roles[0] if self.roles else None


def read_tags(tags: list[str], *, cell: int, notebook: str | None = None) -> CellTags:
    """Interpret one cell's tags; TagError names the cell and the offending tag."""
    result = CellTags()
    for raw in tags:
        tag = raw.strip()
        if tag.startswith(PREFIX):
            _read_ours(tag, result, cell, notebook)
        else:
            _read_peer(tag, result, cell, notebook)
    roles = list(dict.fromkeys(result.roles))
    if result.function is not None:
        roles = [r for r in roles if r != FUNCTION]
        # A metrics cell may also name its function; any other pair of roles is a conflict.
        if any(r != METRICS for r in roles):
            raise TagError(
                f"tags {tags!r} give the cell two roles: a function and {roles[0]}",
                notebook=notebook,
                cell=cell,
            )
        roles = [FUNCTION, *roles]
    elif len(roles) > 1:
        raise TagError(
            f"tags {tags!r} give the cell more than one role ({', '.join(roles)})",
            notebook=notebook,
            cell=cell,
        )
    result.roles = roles
    return result


def _set_function(result: CellTags, name: str, tag: str, cell: int, notebook: str | None) -> None:
    if not name or not _FUNCTION_NAME.match(name):
        raise TagError(
            f"tag {tag!r} needs a function name without spaces, ':', '/' or '\\'",
            notebook=notebook,
            cell=cell,
        )
    if result.function is not None and result.function != name:
        raise TagError(
            f"the cell is tagged for two functions, {result.function!r} and "
            f"{name!r}; a cell belongs to one function",
            notebook=notebook,
            cell=cell,
        )
    result.function = name
    result.roles.append(FUNCTION)


def _read_ours(tag: str, result: CellTags, cell: int, notebook: str | None) -> None:
    key, _, value = tag[len(PREFIX) :].partition(":")
    if key == "fn":
        _set_function(result, value, tag, cell, notebook)
    elif key in {"setup", "skip", "metrics"} and not value:
        result.roles.append(key)
    elif key == "after" and value:
        result.after.append(value)
    elif key in OPTION_PARSERS:
        _set_option(result, key, OPTION_PARSERS[key](value, tag, cell, notebook), cell, notebook)
    elif key not in _KEYS and (suggestion := near_miss(tag)) is not None:
        result.notes.append(_near_miss_note(tag, suggestion))
    else:
        known = "setup, fn:NAME, after:NAME, skip, metrics, " + ", ".join(
            f"{k}:VALUE" for k in OPTION_PARSERS
        )
        raise TagError(
            f"unknown tag {tag!r}", notebook=notebook, cell=cell, hint=f"mlops tags are {known}"
        )


def _read_peer(tag: str, result: CellTags, cell: int, notebook: str | None) -> None:
    head, _, value = tag.partition(":")
    if tag == "parameters":
        result.roles.append(PARAMETERS)
        result.absorbs = False
    elif tag == "pipeline-parameters":
        result.roles.append(PARAMETERS)
    elif tag in {"imports", "functions"}:
        result.roles.append(SETUP)
    elif tag in {"skip", "mlrun-ignore", "nuclio-ignore", "injected-parameters"}:
        result.roles.append(SKIP)
        result.transparent = True
    elif tag == "pipeline-metrics":
        result.roles.append(METRICS_NAMES)
    elif head in {"step", "block"} and value:
        _set_function(result, value, tag, cell, notebook)
    elif head == "prev" and value:
        result.after.append(value)
        result.kale_after.add(value)
    elif head == "image" and value:
        _set_option(result, "image", value, cell, notebook)
    elif head == "cache" and value in {"enabled", "disabled"}:
        _set_option(result, "cache", value == "enabled", cell, notebook)
    elif head == "limit" and value:
        _read_kale_limit(tag, value, result, cell, notebook)
    elif head in {"annotation", "label", "secret", "report", "notebook"} and value:
        result.notes.append(f"Kale tag {tag!r} has no equivalent here and is ignored")
    elif (suggestion := near_miss(tag)) is not None:
        result.notes.append(_near_miss_note(tag, suggestion))


def near_miss(tag: str) -> str | None:
    """Our tag that ``tag`` was probably meant to be (``mlop:fn:x``, ``mlops-fn:x``,
    ``mlops:function:x`` -> ``mlops:fn:x``), or None when it looks like nothing of ours."""
    match = _NEAR_PREFIX.match(tag.strip())
    if match is None:
        return None
    prefix = match["prefix"].lower()
    if prefix != "mlops" and not difflib.get_close_matches(prefix, ["mlops"], cutoff=0.75):
        return None
    key, _, value = match["rest"].partition(":")
    key = key.strip().lower()
    if key not in _KEYS:
        key = _KEY_ALIASES.get(key) or next(
            iter(difflib.get_close_matches(key, sorted(_KEYS), n=1, cutoff=0.75)), ""
        )
    if not key:
        return None
    if key in {"setup", "skip", "metrics"}:
        suggestion = PREFIX + key
    else:
        suggestion = f"{PREFIX}{key}:{value.strip() or 'NAME'}"
    return None if suggestion == tag.strip() else suggestion


def _near_miss_note(tag: str, suggestion: str) -> str:
    return f"unknown tag {tag!r} is ignored; did you mean {suggestion!r}?"


def _read_kale_limit(
    tag: str, value: str, result: CellTags, cell: int, notebook: str | None
) -> None:
    resource, _, amount = value.rpartition(":")
    if resource in {"nvidia.com/gpu", "amd.com/gpu", "gpu"}:
        _set_option(result, "gpu", _count(amount, tag, cell, notebook), cell, notebook)
    elif resource in {"cpu", "memory"}:
        _set_option(
            result, resource, OPTION_PARSERS[resource](amount, tag, cell, notebook), cell, notebook
        )
    else:
        result.notes.append(f"Kale tag {tag!r}: resource {resource!r} is not supported; ignored")


def _set_option(result: CellTags, key: str, value: Any, cell: int, notebook: str | None) -> None:
    if key in result.options and result.options[key] != value:
        raise TagError(
            f"option {key!r} is tagged twice with different values "
            f"({result.options[key]!r} and {value!r})",
            notebook=notebook,
            cell=cell,
        )
    result.options[key] = value


def _count(value: str, tag: str, cell: int, notebook: str | None) -> int:
    if not value.isdigit():
        raise TagError(f"tag {tag!r} needs a whole number", notebook=notebook, cell=cell)
    return int(value)


def _cpu(value: str, tag: str, cell: int, notebook: str | None) -> str:
    if not _CPU.match(value):
        raise TagError(
            f"tag {tag!r}: CPU is a number of cores such as 2, 0.5 or 500m",
            notebook=notebook,
            cell=cell,
        )
    return value


def _memory(value: str, tag: str, cell: int, notebook: str | None) -> str:
    if not _SIZE.match(value):
        raise TagError(
            f"tag {tag!r}: memory is a size such as 512Mi, 4Gi or 2G", notebook=notebook, cell=cell
        )
    return value


def _image(value: str, tag: str, cell: int, notebook: str | None) -> str:
    if not value or any(c.isspace() for c in value):
        raise TagError(
            f"tag {tag!r} needs an image reference such as python:3.11",
            notebook=notebook,
            cell=cell,
        )
    return value


def _cache(value: str, tag: str, cell: int, notebook: str | None) -> bool:
    if value not in {"on", "off"}:
        raise TagError(f"tag {tag!r}: cache is 'on' or 'off'", notebook=notebook, cell=cell)
    return value == "on"


OPTION_PARSERS = {
    "image": _image,
    "cpu": _cpu,
    "memory": _memory,
    "gpu": _count,
    "retries": _count,
    "timeout": _count,
    "cache": _cache,
}

_KEYS = frozenset({"setup", "fn", "after", "skip", "metrics", *OPTION_PARSERS})

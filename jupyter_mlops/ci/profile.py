"""Parameter profiles: small values for CI, written beside the defaults they replace.

A profile is a comment line in the parameters cell, ``# mlops:profile:NAME a=1, b=0.1``:
the ``mlops:`` prefix of the cell tags (DESIGN.md) and the ``KEY:VALUE`` form of the
per-function options, kept in a comment so that the cell still runs as written (papermill,
plain Jupyter) and the functions' versions do not change when a profile does. Values are
texts, parsed by each parameter's declared type as ``-p NAME VALUE`` is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import MLOpsError
from ..notebook.plan import Plan
from ..notebook.reader import NotebookSource

_LINE = re.compile(r"^\s*#\s*mlops:profile:(?P<name>[A-Za-z_][\w-]*)\b(?P<values>.*)$")
# A comma ends a value only where the next NAME= starts: ``sizes=[1,2], n=5`` keeps [1,2].
_SEPARATOR = re.compile(r",\s*(?=[A-Za-z_]\w*\s*=)")
_PAIR = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>.*?)\s*$")


class ProfileError(MLOpsError):
    """A profile line that does not read, or a profile that is not there."""


def profiles(notebook: NotebookSource, plan: Plan) -> dict[str, dict[str, str]]:
    """Every profile of the notebook's parameters cells: name -> {parameter: text}."""
    cells = sorted({parameter.cell for parameter in plan.parameters})
    found: dict[str, dict[str, str]] = {}
    for index in cells:
        for line in _lines(notebook.cells[index].get("source", "")):
            match = _LINE.match(line)
            if match is None:
                continue
            values = found.setdefault(match["name"], {})
            values.update(_values(match["values"], match["name"], plan, index))
    return found


def _lines(source: str | Iterable[str]) -> list[str]:
    text = source if isinstance(source, str) else "".join(source)
    return text.splitlines()


def _values(text: str, profile: str, plan: Plan, cell: int) -> dict[str, str]:
    values: dict[str, str] = {}
    known = {parameter.name for parameter in plan.parameters}
    for part in _SEPARATOR.split(text.strip()) if text.strip() else []:
        pair = _PAIR.match(part)
        if pair is None:
            raise ProfileError(
                f"profile {profile!r}: expected NAME=VALUE, got {part.strip()!r}",
                notebook=plan.notebook,
                cell=cell,
            )
        if pair["name"] not in known:
            raise ProfileError(
                f"profile {profile!r} sets {pair['name']!r}, which is not a parameter "
                f"(parameters: {', '.join(sorted(known)) or 'none'})",
                notebook=plan.notebook,
                cell=cell,
            )
        values[pair["name"]] = pair["value"]
    return values

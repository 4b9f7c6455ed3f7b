"""Gates: ``METRIC OP (NUMBER | ALIAS [(+|-) NUMBER])`` clauses joined by ``and``.

An ALIAS on the right is that metric of the champion (the run behind the alias); the caller
supplies it, so this module only parses and compares. Bad grammar raises ``GateError``
naming the expression and the character where it went wrong.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MLOpsError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
# A dash followed by a letter continues a name (``my-alias``); before a digit it subtracts.
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*(?:-[A-Za-z_][A-Za-z0-9_.]*)*"
_UNSIGNED = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER = rf"[+-]?{_UNSIGNED}"
_CLAUSE = re.compile(
    rf"\s*(?P<metric>{_NAME})\s*(?P<op>>=|<=|==|>|<)\s*"
    rf"(?:(?P<number>{_NUMBER})|(?P<alias>{_NAME})(?:\s*(?P<sign>[+-])\s*(?P<delta>{_UNSIGNED}))?)\s*"
)
_AND = re.compile(r"and\b\s*", re.IGNORECASE)


class GateError(MLOpsError):
    """A gate expression that does not parse."""


@dataclass(frozen=True)
class Clause:
    metric: str
    op: str
    number: float | None = None
    alias: str | None = None
    delta: float = 0.0


def parse(expression: str) -> list[Clause]:
    """The clauses of ``expression``; GateError at the first character that does not fit."""
    clauses: list[Clause] = []
    position = 0
    while True:
        match = _CLAUSE.match(expression, position)
        if match is None:
            raise GateError(
                f"gate {expression!r}: expected METRIC OP (NUMBER | ALIAS [+|- NUMBER]) "
                f"at character {position + 1}"
            )
        delta = (
            float(match["delta"]) * (-1 if match["sign"] == "-" else 1) if match["delta"] else 0.0
        )
        number = float(match["number"]) if match["number"] else None
        clauses.append(Clause(match["metric"], match["op"], number, match["alias"], delta))
        position = match.end()
        if position == len(expression):
            return clauses
        joined = _AND.match(expression, position)
        if joined is None:
            raise GateError(f"gate {expression!r}: expected 'and' at character {position + 1}")
        position = joined.end()


def evaluate(
    clauses: list[Clause],
    challenger: Mapping[str, float],
    champion: Callable[[str], Mapping[str, float] | None],
) -> list[dict[str, Any]]:
    """Each clause with its left and right values and whether it passed."""
    results: list[dict[str, Any]] = []
    for clause in clauses:
        left = challenger.get(clause.metric)
        result: dict[str, Any] = {"metric": clause.metric, "op": clause.op, "left": left}
        right: float | None = clause.number
        note = None
        if clause.alias is not None:
            metrics = champion(clause.alias)
            if metrics is None:
                note = f"no champion ({clause.alias!r} points at no run)"
            elif clause.metric not in metrics:
                note = f"the champion recorded no {clause.metric!r}"
            else:
                right = metrics[clause.metric] + clause.delta
        if left is None or (isinstance(left, float) and math.isnan(left)):
            passed, note = False, f"the challenger recorded no {clause.metric!r}"
        elif right is None:
            passed = True
        else:
            passed = OPERATORS[clause.op](float(left), float(right))
        results.append({**result, "right": right, "passed": passed, "note": note})
    return results

"""Parameter values for a run, checked against the Plan before anything starts.

papermill pastes whatever it is given into the injected cell and leaves type errors to the
kernel. Here every value is checked against the parameter's declared type first, so a bad
value is an error naming the parameter, the expected and the given type, and no kernel starts.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ParameterError
from ..notebook.parameters import Parameter
from ..notebook.plan import Plan

_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")


def check_parameters(
    plan: Plan, values: Mapping[str, Any], *, as_text: bool = False
) -> dict[str, Any]:
    """Every parameter with its effective value: defaults, overridden by ``values``.

    ``as_text`` values are strings typed on a command line or in a form (``-p alpha 0.1``)
    and are parsed by the declared type; otherwise values are Python/JSON values.
    """
    effective = {parameter.name: parameter.default for parameter in plan.parameters}
    for name, value in values.items():
        effective[name] = check_value(plan, declared(plan, name), value, as_text=as_text)
    return effective


def check_value(plan: Plan, parameter: Parameter, value: Any, *, as_text: bool = False) -> Any:
    """One value as the parameter's type, or ParameterError naming it."""
    where = f"parameter {parameter.name!r}"
    try:
        if as_text:
            if not isinstance(value, str):
                raise ValueError(f"{where}: expected text, got {type(value).__name__}")
            return parameter.type.parse_text(value, where=where)
        return parameter.type.check(value, where=where)
    except ValueError as err:
        raise ParameterError(str(err), parameter=parameter.name, notebook=plan.notebook) from None


def split_choices(text: str) -> list[str]:
    """``"0.01,0.1,1"`` → three texts; commas inside brackets or quotes do not split.

    So a list-typed parameter can still be swept: ``-p layers "[1,2],[3,4]"``.
    """
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for index, char in enumerate(text):
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def relevant(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The subset of ``values`` a function (or notebook) actually declares."""
    wanted = set(names)
    return {name: value for name, value in values.items() if name in wanted}


def check_alias(alias: str) -> str:
    """An alias (``staging``, ``production``, ``v2-candidate``) is a short plain word."""
    if not _ALIAS.fullmatch(alias):
        raise ParameterError(
            f"alias {alias!r} is not allowed: use letters, digits, '.', '_' or '-' "
            "(up to 64, starting with a letter)",
            parameter="alias",
        )
    return alias


def declared(plan: Plan, name: str) -> Parameter:
    """The notebook's parameter ``name``, or ParameterError naming the ones it has."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ParameterError(
            f"{name!r} is not a valid parameter name (it must be a Python identifier)",
            parameter=str(name),
            notebook=plan.notebook,
        )
    known_names = [parameter.name for parameter in plan.parameters]
    if name not in known_names:
        known = ", ".join(known_names) or "none: the notebook has no parameters cell"
        raise ParameterError(
            f"unknown parameter {name!r} (parameters: {known})",
            parameter=name,
            notebook=plan.notebook,
        )
    return plan.parameter(name)

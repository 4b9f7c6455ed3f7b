"""papermill output notebooks as input: the injected values are the run's parameters.

papermill writes the values it was given into a cell tagged ``injected-parameters`` right
after the ``parameters`` cell; a notebook produced that way *ran* with those values, so they
replace the parameters cell's defaults (each with a warning: the notebook's own defaults are
then no longer what the generated module uses).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from .parameters import Parameter
from .reader import cell_source, cell_tags

INJECTED_TAG = "injected-parameters"


def injected_values(cells: Sequence[dict[str, Any]]) -> dict[str, tuple[Any, int]]:
    """The literal assignments of the injected cells: name -> (value, cell index)."""
    values: dict[str, tuple[Any, int]] = {}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or INJECTED_TAG not in cell_tags(cell):
            continue
        try:
            tree = ast.parse(cell_source(cell))
        except SyntaxError:
            continue
        for statement in tree.body:
            if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
                continue
            target = statement.targets[0]
            if not isinstance(target, ast.Name):
                continue
            try:
                values[target.id] = (ast.literal_eval(statement.value), index)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    return values


def apply_injected(
    parameters: list[Parameter],
    cells: Sequence[dict[str, Any]],
    warn: Callable[[int | None, str], None],
) -> list[Parameter]:
    """Parameters whose defaults are papermill's injected values, where they fit the type."""
    values = injected_values(cells)
    if not values:
        return parameters
    result: list[Parameter] = []
    for parameter in parameters:
        if parameter.name not in values:
            result.append(parameter)
            continue
        value, index = values[parameter.name]
        try:
            checked = parameter.type.check(value, where=f"injected value of {parameter.name!r}")
        except Exception as err:  # a value of another type: keep the declared default
            warn(index, f"papermill injected {parameter.name}={value!r}, ignored: {err}")
            result.append(parameter)
            continue
        warn(
            index,
            f"papermill injected {parameter.name}={checked!r}: used as the default instead of "
            f"{parameter.default!r} (cell {parameter.cell}); remove the injected-parameters "
            "cell to keep the notebook's own default",
        )
        result.append(dataclasses.replace(parameter, default=checked))
    return result

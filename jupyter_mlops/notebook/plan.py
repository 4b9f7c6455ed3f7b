"""The Plan: what a tagged notebook means, independent of how it will be run.

Every converter, executor and surface reads this and nothing else of the notebook's tags.
Cell numbers are 0-based indices into the notebook's ``cells`` list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .parameters import Parameter

PARAMETERS = "parameters"  # the producer name of inputs that are notebook parameters


@dataclass(frozen=True)
class CellCode:
    """One cell's code: as written (for kernels) and as plain Python (for modules)."""

    index: int
    source: str
    python: str
    error: str | None = None  # why the plain-Python code does not parse, if it does not


@dataclass(frozen=True)
class PlanWarning:
    cell: int | None
    message: str
    # about code only plain-Python targets change (a magic a kernel runs as written)
    plain_python_only: bool = False

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "notebook"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "message": self.message}


@dataclass(frozen=True)
class Edge:
    """``source`` runs before ``target``; ``names`` are the values passed (empty: order only)."""

    source: str
    target: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metric:
    name: str
    function: str  # the function that produces the value
    cell: int


@dataclass
class Function:
    """One parameterized function made of tagged cells."""

    name: str  # as tagged
    identifier: str  # the Python name in generated code
    cells: list[CellCode]
    inputs: list[str] = field(default_factory=list)  # in order of first use
    outputs: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # input -> producer or PARAMETERS
    after: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # top-level modules the code imports
    setup_used: list[int] = field(default_factory=list)  # setup statement numbers it needs
    # imports, defs and classes of other functions that this one uses: (from, code)
    definitions: list[tuple[str, str]] = field(default_factory=list)
    doc: str = ""
    version: str = ""

    @property
    def broken_cells(self) -> list[CellCode]:
        return [cell for cell in self.cells if cell.error]

    @property
    def cell_indices(self) -> list[int]:
        return [cell.index for cell in self.cells]

    @property
    def parameters(self) -> list[str]:
        return [name for name in self.inputs if self.sources.get(name) == PARAMETERS]

    @property
    def data_inputs(self) -> list[str]:
        return [name for name in self.inputs if self.sources.get(name) != PARAMETERS]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "identifier": self.identifier,
            "cells": self.cell_indices,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "sources": dict(self.sources),
            "after": list(self.after),
            "options": dict(self.options),
            "metrics": list(self.metrics),
            "version": self.version,
        }


@dataclass
class Plan:
    """A notebook's parameters, setup, functions (in run order), edges, metrics, warnings."""

    notebook: str
    parameters: list[Parameter]
    setup: list[CellCode]
    functions: list[Function]
    edges: list[Edge]
    metrics: list[Metric]
    warnings: list[PlanWarning]
    setup_statements: list[str] = field(default_factory=list)  # normalized, in order
    # No function tags: the notebook's code is one function. Then a star import in it can
    # be moved to module level by the python target (there are no other functions to see it).
    whole_notebook: bool = False
    # Parameters cells holding code besides literal assignments (``KeptStatement``): every
    # target runs such a cell as written, with the defaults, before the functions and before
    # the given parameter values apply, as papermill does.
    parameters_code: list[CellCode] = field(default_factory=list)

    def function(self, name: str) -> Function:
        for function in self.functions:
            if name in (function.name, function.identifier):
                return function
        from ..errors import UnknownNameError

        known = ", ".join(f.name for f in self.functions) or "none"
        raise UnknownNameError(f"no function {name!r} (functions: {known})", notebook=self.notebook)

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def upstream(self, name: str) -> list[str]:
        return [edge.source for edge in self.edges if edge.target == name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "parameters": [parameter.to_dict() for parameter in self.parameters],
            "setup": [cell.index for cell in self.setup],
            "functions": [function.to_dict() for function in self.functions],
            "edges": [
                {"source": e.source, "target": e.target, "names": list(e.names)} for e in self.edges
            ],
            "metrics": [
                {"name": m.name, "function": m.function, "cell": m.cell} for m in self.metrics
            ],
            "warnings": [warning.to_dict() for warning in self.warnings],
        }

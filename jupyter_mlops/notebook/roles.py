"""What each cell of a notebook is, for the badges the JupyterLab extension draws on cells.

The Plan knows which cells make parameters, setup, functions and metrics; a code cell in
none of them is ``skip`` when its tags or markers exclude it, else ``none`` (exploration
before the first tagged cell). Markdown and raw cells are ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import tags as tag_grammar
from .plan import Plan
from .reader import NotebookSource, cell_tags

ROLES = ("parameters", "setup", "function", "metrics", "skip", "none")


@dataclass(frozen=True)
class CellRole:
    index: int
    role: str  # one of ROLES
    function: str | None = None  # for function and metrics cells

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "role": self.role, "function": self.function}


def cell_roles(notebook: NotebookSource, plan: Plan) -> list[CellRole]:
    """One role per cell of ``notebook``, in order."""
    parameters = {parameter.cell for parameter in plan.parameters}
    setup = {cell.index for cell in plan.setup}
    metrics = {metric.cell: metric.function for metric in plan.metrics}
    owner = {index: fn.name for fn in plan.functions for index in fn.cell_indices}
    roles = []
    for index, cell in enumerate(notebook.cells):
        if index in parameters:
            roles.append(CellRole(index, "parameters"))
        elif index in setup:
            roles.append(CellRole(index, "setup"))
        elif index in metrics:
            roles.append(CellRole(index, "metrics", metrics[index]))
        elif index in owner:
            roles.append(CellRole(index, "function", owner[index]))
        elif cell.get("cell_type") == "code" and _skipped(cell, index):
            roles.append(CellRole(index, "skip"))
        else:
            roles.append(CellRole(index, "none"))
    return roles


def _skipped(cell: dict[str, Any], index: int) -> bool:
    """Tagged ``mlops:skip`` (or a peer's skip tag); the parse already accepted the tags."""
    return tag_grammar.read_tags(cell_tags(cell), cell=index).role == tag_grammar.SKIP


def describe(source: NotebookSource, plan: Plan) -> dict[str, Any]:
    """What the sidebar shows: the Plan, the parameters each function reads, and one role
    per cell for the badges drawn on cells."""
    described = plan.to_dict()
    for entry, function in zip(described["functions"], plan.functions, strict=True):
        entry["parameters"] = function.parameters
    described["cells"] = [role.to_dict() for role in cell_roles(source, plan)]
    return described

"""Parse: a tagged notebook in, a Plan out (parameters, setup, functions, DAG, metrics)."""

from __future__ import annotations

from .parser import parse_notebook
from .plan import CellCode, Edge, Function, Metric, Plan, PlanWarning
from .reader import NotebookSource, read_notebook

__all__ = [
    "CellCode",
    "Edge",
    "Function",
    "Metric",
    "NotebookSource",
    "Plan",
    "PlanWarning",
    "parse_notebook",
    "read_notebook",
]

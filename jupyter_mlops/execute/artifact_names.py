"""The names runs give their artifacts; light, so the serving process need not import papermill."""

from __future__ import annotations

from ..notebook.plan import Function


def value_artifact(function: Function, name: str) -> str:
    """The artifact name of a function's output value: ``train/model``."""
    return f"{function.name}/{name}"

"""CI for notebooks: ``ci run`` (strict plan, smoke run, gates, a Markdown report) and ``ci
init`` (the GitHub Actions or GitLab CI file that runs it and promotes on the main branch)."""

from __future__ import annotations

from .check import EXIT_CODES, CIReport, ci_parameters, ci_run, markdown
from .workflows import WORKFLOWS, Workflow, write_workflow

__all__ = [
    "EXIT_CODES",
    "WORKFLOWS",
    "CIReport",
    "Workflow",
    "ci_parameters",
    "ci_run",
    "markdown",
    "write_workflow",
]

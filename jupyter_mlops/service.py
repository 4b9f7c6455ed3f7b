"""The one object every surface calls (CLI, magics, REST handlers, sidebar).

Surfaces translate arguments in and results out; the work happens here and below, so two
surfaces never hold two copies of the same logic.
"""

from __future__ import annotations

from pathlib import Path

from .convert.registry import ConvertResult, available, get_converter
from .notebook.parser import parse_notebook
from .notebook.plan import Plan
from .notebook.reader import NOTEBOOK_SOURCE, NotebookSource


class MLOps:
    """Inspect and convert notebooks. Runs, the store and serving join in later layers."""

    def inspect(
        self, notebook: NOTEBOOK_SOURCE | NotebookSource, *, name: str | None = None
    ) -> Plan:
        """The Plan of a notebook (a path, nbformat content, or a read NotebookSource)."""
        return parse_notebook(notebook, name=name)

    def convert(
        self,
        notebook: NOTEBOOK_SOURCE | NotebookSource | Plan,
        target: str,
        output_dir: str | Path,
        *,
        name: str | None = None,
    ) -> ConvertResult:
        """Convert to a registered target, writing into ``output_dir``."""
        converter = get_converter(target)  # unknown target: fail before reading anything
        plan = notebook if isinstance(notebook, Plan) else self.inspect(notebook, name=name)
        return converter.convert(plan, Path(output_dir))

    def targets(self) -> dict[str, str]:
        return available()

"""``jupyter nbconvert --to mlops-python``: the ``python`` target as an nbconvert exporter.

Registered under the ``nbconvert.exporters`` entry point, so nbconvert, JupyterLab's
"Save and Export Notebook As" menu and any tool built on nbconvert can produce the module.
"""

from __future__ import annotations

from typing import Any

from nbconvert.exporters import Exporter
from traitlets import default

from ..errors import MLOpsError
from ..notebook.parser import parse_notebook
from .python_module import module_source


class MLOpsPythonExporter(Exporter):
    """Export a tagged notebook as a Python module with a def per function."""

    export_from_notebook = "MLOps Python module"
    output_mimetype = "text/x-python"

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".py"

    def from_notebook_node(  # type: ignore[override]  # exporters return text, as nbconvert's do
        self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        metadata = resources.get("metadata", {})
        name = f"{metadata.get('name') or 'notebook'}.ipynb"
        try:
            source = module_source(parse_notebook(dict(nb_copy), name=name))
        except MLOpsError as err:
            raise ValueError(str(err)) from None  # nbconvert reports ValueError cleanly
        resources["output_extension"] = ".py"
        return source, resources

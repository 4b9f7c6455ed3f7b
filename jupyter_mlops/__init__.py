"""jupyter_mlops: tag notebook cells, get versioned functions, pipelines and endpoints.

Importing the package is cheap on purpose (the CLI and the kernel-side magics import it):
heavy dependencies such as kfp load only when the feature that needs them is used.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .runtime import log_artifact, log_input, log_metric, log_reference

__all__ = ["__version__", "log_artifact", "log_input", "log_metric", "log_reference"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mlops``: the ``%mlops`` magic (IPython is imported only now)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    """The server extension (enabled on install by jupyter-config/…/jupyter_mlops.json)."""
    from .extension.app import MLOpsExtension

    return [{"module": "jupyter_mlops", "app": MLOpsExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension shipped in the wheel."""
    return [{"src": "labextension", "dest": "jupyter-mlops"}]

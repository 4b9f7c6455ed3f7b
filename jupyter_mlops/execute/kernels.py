"""Is the notebook's kernel installed here? Asked before a run is recorded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import NotebookFormatError


def require_kernel(content: Mapping[str, Any], notebook: str) -> None:
    """Refuse a notebook whose kernelspec is not installed here, before any run is recorded
    (papermill would find out only after starting: a failed run and a traceback)."""
    from jupyter_client.kernelspec import KernelSpecManager

    kernel_name = ((content.get("metadata") or {}).get("kernelspec") or {}).get("name")
    if not kernel_name:
        return  # papermill then uses the default Python kernel
    installed = KernelSpecManager().find_kernel_specs()
    if kernel_name not in installed:
        raise NotebookFormatError(
            f"its kernel {kernel_name!r} is not installed here",
            notebook=notebook,
            hint=f"installed kernels: {', '.join(sorted(installed)) or 'none'}; "
            "pick one in Kernel → Change Kernel, or install it with ipykernel install",
        )

"""Which kernel a run uses, and is it installed here? Asked before a run is recorded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import NotebookFormatError


def require_kernel(content: Mapping[str, Any], notebook: str, kernel: str | None = None) -> None:
    """Refuse a run whose kernel is not installed here, or that names none, before any run
    is recorded (papermill would find out only after starting: a failed run, a traceback).

    ``kernel`` (``--kernel``, papermill's ``-k``) overrides the notebook's kernelspec, so a
    notebook with none, or with one not installed here, can still run.
    """
    from .kernelspecs import kernel_spec_manager

    installed = kernel_spec_manager().find_kernel_specs()
    names = ", ".join(sorted(installed)) or "none"
    if kernel is not None:
        if kernel not in installed:
            raise NotebookFormatError(
                f"the kernel {kernel!r} asked for is not installed here",
                notebook=notebook,
                hint=f"installed kernels: {names}",
            )
        return
    kernel_name = ((content.get("metadata") or {}).get("kernelspec") or {}).get("name")
    if not kernel_name:
        raise NotebookFormatError(
            "it names no kernel (its metadata has no kernelspec)",
            notebook=notebook,
            hint=f"pass --kernel NAME, one of: {names}; or pick one in Kernel → Change Kernel",
        )
    if kernel_name not in installed:
        raise NotebookFormatError(
            f"its kernel {kernel_name!r} is not installed here",
            notebook=notebook,
            hint=f"pass --kernel NAME, one of: {names}; pick one in Kernel → Change Kernel; "
            "or install it with ipykernel install",
        )

"""Which notebooks the ``mlops`` engine hands to a stock kernel, and how that is recorded.

One rule, used by the engine (plain ``papermill --engine mlops``) and by the runner (tracked
runs, which then run as ``--engine papermill`` would): a notebook in another language, a
kernelspec this interpreter does not serve, or code asking for a GUI event loop
(``%matplotlib qt``, ``%gui tk``), which a forked run has no loop for. Everything else a stock
ipykernel does, the engine does. The choice is recorded in the output notebook as
``metadata.mlops.engine`` (``name``, ``kernel``, and ``fallback``: the reason, if any).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat
from papermill.utils import nb_language

from jupyter_mlops.execute.guis import EVENT_LOOP_GUIS


def _node(value: Any) -> Any:
    return nbformat.from_dict(value)  # type: ignore[no-untyped-call]


@functools.lru_cache(maxsize=64)
def kernelspec_check(kernel_name: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Why this kernelspec cannot run in our zygote (``None`` if it can), and its env."""
    from jupyter_client.kernelspec import NoSuchKernel

    from .kernelspecs import kernel_spec_manager

    try:
        spec = kernel_spec_manager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return f"no kernelspec named {kernel_name!r}", ()
    if str(spec.language).lower() != "python":
        return f"kernel {kernel_name!r} is for {spec.language}, not Python", ()
    argv = [str(a) for a in spec.argv]
    program = argv[0] if argv else ""
    native = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    found = sys.executable if program in native else shutil.which(program) or program
    if os.path.realpath(found) != os.path.realpath(sys.executable):
        return f"kernel {kernel_name!r} runs {program}, not {sys.executable}", ()
    if not any("ipykernel" in a for a in argv):
        return f"kernel {kernel_name!r} does not start ipykernel", ()
    return None, tuple((str(k), str(v)) for k, v in (spec.env or {}).items())


# `%matplotlib qt`, `%pylab --no-import-all tk`, `%gui wx`: a line magic that starts a GUI
# event loop (a cell magic or an indented line inside a block counts too).
_GUI_MAGIC = re.compile(
    r"^\s*%{1,2}(?:matplotlib|pylab|gui)(?:\s+-{1,2}[\w-]+)*\s+(?P<gui>\w+)", re.MULTILINE
)


def _event_loop_gui(nb: Any) -> str | None:
    """The first GUI toolkit with an event loop the notebook's code asks for."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for match in _GUI_MAGIC.finditer(cell.source):
            if match["gui"] in EVENT_LOOP_GUIS:
                return match["gui"]
    return None


def fallback_reason(nb: Any, kernel_name: str | None) -> str | None:
    """Why this notebook must run on a stock kernel, not a fork of ours (``None``: it need not).

    The one rule: another language, a kernelspec this interpreter does not serve, or a GUI
    event loop (``%matplotlib qt``). Everything else a stock ipykernel does, the engine does.
    """
    try:
        language = str(nb_language(nb)).lower()
    except ValueError:
        language = "python"  # nothing says otherwise; papermill's kernel lookup decides
    if language != "python":
        return f"the notebook's language is {language}"
    if kernel_name:
        reason = kernelspec_check(kernel_name)[0]
        if reason is not None:
            return reason
    gui = _event_loop_gui(nb)
    if gui is not None:
        return f"the notebook asks for the {gui!r} GUI event loop"
    return None


def record_engine(nb: Any, name: str, kernel_name: str | None, reason: str | None) -> None:
    """Say in the output notebook which engine ran it, and why not ours if it did not."""
    record: dict[str, Any] = dict(nb.metadata.get("mlops") or {})
    engine: dict[str, Any] = {"name": name, "kernel": kernel_name}
    if reason is not None:
        engine["fallback"] = reason
    record["engine"] = engine
    nb.metadata["mlops"] = _node(record)


def note_stock_engine(output: Path, kernel: str | None, reason: str | None) -> None:
    """Record in a stock papermill run's output notebook that stock papermill ran it (and
    why, for a fallback), as the ``mlops`` engine records itself."""
    if not output.is_file():
        return
    nb = nbformat.read(str(output), as_version=4)  # type: ignore[no-untyped-call]
    kernel = kernel or (nb.metadata.get("kernelspec") or {}).get("name")
    record_engine(nb, "papermill", kernel, reason)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_text(nbformat.writes(nb), encoding="utf-8")  # type: ignore[no-untyped-call]
    temporary.replace(output)

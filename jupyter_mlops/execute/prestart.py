"""Start the engine's zygote in the background as soon as a command knows it will run notebooks.

A zygote takes about half a second to start (an interpreter importing IPython), and a
``jupyter mlops run`` spends about as long importing papermill and the store, reading and
checking the notebook and recording the run before the engine first asks for it. Started on
a daemon thread at the top of the command, the two overlap on a 2-core machine instead of
adding up. The engine's own ``get_zygote`` call then finds this zygote (or waits for its
start under the same lock) and never starts a second one.

Nothing here changes how a zygote starts or fails: if this early start fails, the error is
only logged, and the engine's call starts it again and reports the failure as it always did.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..project import Project

log = logging.getLogger(__name__)

# The engine's own default start timeout (MLOpsEngine.execute_managed_notebook).
START_TIMEOUT = 60.0


def start_zygote_in_background(
    start_timeout: float = START_TIMEOUT, notebook: Path | None = None
) -> threading.Thread:
    """Start this process's zygote on a daemon thread; returns the thread (tests join it).

    With ``notebook`` (a whole-notebook run or sweep), the zygote started is the warm
    generation the engine will ask for: the one that imported what the notebook imports, with
    the key the engine computes from the same cells and environment. If the engine ends up
    asking for another key (a kernelspec with its own environment), this one is only unused,
    never wrong. The thread imports nothing: two threads importing third-party packages at
    once can deadlock on their import cycles (jupyter_client does), so what it needs is
    imported here, before it starts.
    """
    from . import warm
    from .zygotes import get_zygote

    def start() -> None:
        try:
            plan = _warm_plan(notebook, warm) if notebook is not None else None
            if plan is None or not plan.modules:
                get_zygote(start_timeout)
            else:  # the engine's get_zygote finds it, or waits for its start
                get_zygote(start_timeout, plan.modules, plan.key, plan.env)
        except Exception as err:  # the engine's own call starts it again and reports it
            log.info("early zygote start failed (the first run will retry): %s", err)

    thread = threading.Thread(target=start, name="mlops-zygote-prestart", daemon=True)
    thread.start()
    return thread


def _warm_plan(notebook: Path, warm: Any) -> Any:
    """What the engine will warm for a run of ``notebook`` (None: leave it to the engine:
    warm imports are off, the file is not a readable notebook, or a cell needs IPython to
    be read, which this thread must not import)."""
    from .zygotes import UNSAFE_MODULES

    if not warm.enabled(None):
        return None
    try:
        content = json.loads(notebook.read_text(encoding="utf-8"))
        cells = [
            SimpleNamespace(cell_type=cell["cell_type"], source=_text(cell["source"]))
            for cell in content["cells"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the command reports what is wrong with it
    for cell in cells:
        if cell.cell_type == "code" and "import" in cell.source:
            try:
                ast.parse(cell.source)
            except (SyntaxError, ValueError):
                return None  # magics: the engine reads the cell as IPython would
    env = {**os.environ, "JPY_PARENT_PID": str(os.getpid())}  # as the engine sets it
    return warm.plan_for(SimpleNamespace(cells=cells), str(notebook.parent), env, UNSAFE_MODULES)


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def prestart_for(arguments: argparse.Namespace, project: Project) -> threading.Thread | None:
    """Start the zygote early if this CLI command runs notebooks on the mlops engine here.

    Not for ``--engine papermill``, another executor (its runs execute elsewhere) or
    ``--kernel`` (it may name a kernel the zygote cannot serve): there a zygote would only
    take a core from the command. A whole-notebook run or sweep starts the notebook's warm
    generation; a function run starts the plain zygote (its generated notebook imports a
    subset, under another key).
    """
    if getattr(arguments, "command", None) not in ("run", "sweep"):
        return None
    engine = getattr(arguments, "engine", None) or project.engine
    executor = getattr(arguments, "executor", None) or project.executor
    if engine != "mlops" or executor != "local" or getattr(arguments, "kernel", None):
        return None
    notebook: Path | None = None
    given = getattr(arguments, "notebook", None)
    if given and not getattr(arguments, "function", None):
        candidate = Path(project.root_dir) / given
        try:
            notebook = candidate if candidate.is_file() else None
        except OSError:  # a name too long, a link loop: the command itself says what is wrong
            notebook = None
    return start_zygote_in_background(notebook=notebook)

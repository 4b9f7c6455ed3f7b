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
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..project import Project

log = logging.getLogger(__name__)

# The engine's own default start timeout (MLOpsEngine.execute_managed_notebook).
START_TIMEOUT = 60.0


def start_zygote_in_background(start_timeout: float = START_TIMEOUT) -> threading.Thread:
    """Start this process's zygote on a daemon thread; returns the thread (tests join it)."""

    def start() -> None:
        from .zygotes import get_zygote

        try:
            get_zygote(start_timeout)
        except Exception as err:  # the engine's own call starts it again and reports it
            log.info("early zygote start failed (the first run will retry): %s", err)

    thread = threading.Thread(target=start, name="mlops-zygote-prestart", daemon=True)
    thread.start()
    return thread


def prestart_for(arguments: argparse.Namespace, project: Project) -> threading.Thread | None:
    """Start the zygote early if this CLI command runs notebooks on the mlops engine here.

    Not for ``--engine papermill``, another executor (its runs execute elsewhere) or
    ``--kernel`` (it may name a kernel the zygote cannot serve): there a zygote would only
    take a core from the command.
    """
    if getattr(arguments, "command", None) not in ("run", "sweep"):
        return None
    engine = getattr(arguments, "engine", None) or project.engine
    executor = getattr(arguments, "executor", None) or project.executor
    if engine != "mlops" or executor != "local" or getattr(arguments, "kernel", None):
        return None
    return start_zygote_in_background()

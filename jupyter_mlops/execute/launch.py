"""How one run's notebook is handed to papermill: the engine, its options, the outcome.

Apart from ``runner.py`` because this is the one place that knows papermill's calling
conventions (the ``mlops`` engine's ``mlops_*`` options; stock papermill's environment taken
from ``os.environ``; ``PapermillExecutionError`` mapped back to the user's cell), while the
runner keeps the life of a run: recording, inputs, results.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

# papermill first: importing it loads our engine through its entry point, and importing the
# engine module before papermill would make that a circular import.
import papermill
from nbformat.warnings import MissingIDFieldWarning

from ..errors import MLOpsError
from ..runtime import RUN_DIR_VARIABLE
from .fallback import note_stock_engine

if TYPE_CHECKING:
    from .engine import ExecutionControl
    from .runner import RunRequest

# Cells without ids (nbformat 4.4 files, hand-written ones) are normal input, and papermill
# gives them ids itself: nbformat's warning about them, raised on every read of such a file
# (ours and papermill's), is noise on the user's terminal. A filter for the process, not
# ``catch_warnings`` around the reads: that is not thread-safe, and sweeps launch on threads.
warnings.filterwarnings("ignore", category=MissingIDFieldWarning)

logger = logging.getLogger(__name__)

OUTPUT_NOTEBOOK = "output.ipynb"
ENGINES = ("mlops", "papermill")

# Stock papermill takes the kernel's environment from this process's os.environ, so runs on
# the stock engine set it under this lock, one at a time.
_STOCK_ENGINE_LOCK = threading.Lock()


def check_engine(engine: str) -> None:
    """Refuse an engine name papermill has no engine for here, naming the ones there are."""
    if engine not in ENGINES:
        raise MLOpsError(f"unknown engine {engine!r} (engines: {', '.join(ENGINES)})")


def launch(
    request: RunRequest,
    notebook: Any,
    parameters: dict[str, Any],
    folder: Path,
    control: ExecutionControl,
    *,
    default_engine: str,
    collect: list[str],
    save: dict[str, str],
) -> tuple[str, dict[str, Any] | None]:
    """Execute ``notebook`` into ``folder``; (status, error) with the failing cell named."""
    from papermill.exceptions import PapermillExecutionError

    runtime_dir = folder / "runtime"
    runtime_dir.mkdir(exist_ok=True)
    output = folder / OUTPUT_NOTEBOOK
    options: dict[str, Any] = {
        "parameters": parameters,
        "progress_bar": False,
        "execution_timeout": request.cell_timeout,
    }
    cwd = str(request.cwd or request.notebook.parent)
    kernel = request.kernel
    if kernel is None and not isinstance(notebook, str):
        # A function's generated notebook runs on the kernel of the notebook it came from.
        kernel = _kernelspec_name(request.notebook)
    if kernel:
        options["kernel_name"] = kernel
    try:
        engine, reason = choose_engine(request, notebook, kernel, default_engine)
        if engine == "mlops":
            papermill.execute_notebook(
                notebook,
                str(output),
                engine_name="mlops",
                mlops_cwd=cwd,
                mlops_env={RUN_DIR_VARIABLE: str(runtime_dir)},
                mlops_collect=collect,
                mlops_save=save,
                mlops_control=control,
                mlops_watched=False,  # read once it ended: no need to write it as it goes
                **options,
            )
        else:
            try:
                _stock_papermill(notebook, output, cwd, runtime_dir, options)
            finally:
                note_stock_engine(output, kernel, reason)
    except PapermillExecutionError as err:
        return _status_of(err.ename, control), {
            "cell": _source_cell(request, err.source),
            "ename": err.ename,
            "evalue": err.evalue,
        }
    except MLOpsError as err:
        return "failed", {"cell": None, "ename": type(err).__name__, "evalue": err.message}
    except Exception as err:  # a kernel that cannot start, an unreadable notebook…
        logger.warning("run in %s failed before its code ran: %s", folder, err, exc_info=True)
        return "failed", {"cell": None, "ename": type(err).__name__, "evalue": str(err)}
    return "succeeded", None


def choose_engine(
    request: RunRequest, notebook: Any, kernel: str | None, default_engine: str
) -> tuple[str, str | None]:
    """The engine for this run, and why not ``mlops`` when it was asked for.

    What the ``mlops`` engine cannot run (``fallback_reason``) runs as under
    ``--engine papermill`` would, and the log says why.
    """
    from .fallback import fallback_reason

    engine = request.engine or default_engine
    check_engine(engine)
    if engine != "mlops":
        return engine, None
    node = notebook if not isinstance(notebook, str) else _read_node(Path(notebook))
    kernel = kernel or (node.metadata.get("kernelspec") or {}).get("name")
    reason = fallback_reason(node, kernel)
    if reason is None:
        return engine, None
    logger.warning(
        "%s: running on a stock %s kernel, not the mlops engine: %s",
        request.notebook_name,
        kernel,
        reason,
    )
    return "papermill", reason


def _stock_papermill(
    notebook: Any, output: Path, cwd: str, runtime_dir: Path, options: dict[str, Any]
) -> None:
    with _STOCK_ENGINE_LOCK:
        previous = os.environ.get(RUN_DIR_VARIABLE)
        os.environ[RUN_DIR_VARIABLE] = str(runtime_dir)
        try:
            papermill.execute_notebook(
                notebook, str(output), resources={"metadata": {"path": cwd}}, **options
            )
        finally:
            if previous is None:
                os.environ.pop(RUN_DIR_VARIABLE, None)
            else:
                os.environ[RUN_DIR_VARIABLE] = previous


def _status_of(ename: str, control: ExecutionControl) -> str:
    if control.cancelled or ename == "RunCancelled":
        return "cancelled"
    return "failed"


def _source_cell(request: RunRequest, source: str) -> int | None:
    """The index, in the user's notebook, of the cell whose code failed.

    papermill counts cells of the notebook it ran, which has an injected parameters cell
    (and, for a function, generated load/save cells), so the cell is found by its code.
    """
    try:
        cells = json.loads(request.notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    for index, cell in enumerate(cells):
        text = cell.get("source", "")
        if (
            cell.get("cell_type") == "code"
            and ("".join(text) if isinstance(text, list) else text) == source
        ):
            return index
    return None


def _kernelspec_name(path: Path) -> str | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = ((content.get("metadata") or {}).get("kernelspec") or {}).get("name")
    return str(name) if name else None


def _read_node(path: Path) -> Any:
    """The notebook as nbformat reads it, read once per state of the file: every run of a
    sweep asks for the same one (a read and a validation cost ~3 ms a run). Shared between
    calls, so read-only: ``choose_engine`` only looks at it (papermill reads its own copy)."""
    try:
        info = path.stat()
    except OSError:
        info = None
    if info is None:
        return _read_node_now(path)
    return _read_node_cached(str(path), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=16)
def _read_node_cached(path: str, mtime_ns: int, size: int) -> Any:
    del mtime_ns, size  # the cache key: an edited file is read again
    return _read_node_now(Path(path))


def _read_node_now(path: Path) -> Any:
    import nbformat

    return nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]

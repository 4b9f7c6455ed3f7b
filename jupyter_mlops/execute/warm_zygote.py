"""The zygote's side of warm imports: import a notebook's modules once, safely for fork().

A generation of the zygote imports the modules the engine asks for (``warm``, the engine's
side, chose them) before it forks any run. Three things keep that safe and invisible:

- **The run's environment.** The imports see the environment a run's kernel would have
  (``kernel_environment`` of the run's, e.g. ``MPLBACKEND``), so module state computed at
  import is what the run itself would have computed. The zygote's own environment and
  ``sys.path`` are restored afterwards; the zygote's folder is never on the path.
- **No thread survives into a fork.** OpenMP and BLAS libraries size their thread pools
  from ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/... when they load; these are set to 1
  around the imports (unless the run's environment sets them, or threadpoolctl is missing),
  so no pool thread exists at fork. Each forked run then gives the pools the size a fresh
  process would have (``after_fork``, through threadpoolctl's controllers, found once
  here). After every
  import the zygote counts its threads (``/proc/self/task``): a module that started one
  makes the generation unusable (a thread's locks would be held forever in a fork), and
  the engine discards it and never warms that module again.
- **Global random state** (numpy's generator, seeded at import) is reseeded in each run.
- **Output at import.** What a module prints, logs or warns while it is imported, a stock
  kernel shows in the importing cell; such a module is not warmed (like a thread starter).
- **Imports that fail** are skipped with the reason; the run imports them itself and fails
  or succeeds as it would anyway.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from jupyter_mlops.execute.protocol import Message

# Variables OpenMP and the BLAS libraries read when they load, in the order each reads them.
POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
_POOL_SOURCES = {
    "openblas": ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"),
    "mkl": ("MKL_NUM_THREADS", "OMP_NUM_THREADS"),
    "blis": ("BLIS_NUM_THREADS", "OMP_NUM_THREADS"),
    "openmp": ("OMP_NUM_THREADS",),
}

# Marks a name from `from x import y`: ``x.y`` is imported only if it is a submodule.
MAYBE_MODULE = "?"

_controller: Any = None  # threadpoolctl's ThreadpoolController, found once in the zygote


def thread_count() -> int:
    """Threads of this process, native ones included (a BLAS pool is invisible to
    ``threading``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def warm_up(modules: list[str], env: dict[str, str]) -> Message:
    """Import ``modules`` as a run would see them; the report goes in the ``ready`` message."""
    from jupyter_mlops.execute.kernel_shell import kernel_environment

    imported: list[str] = []
    skipped: dict[str, str] = {}
    unsafe: dict[str, str] = {}
    saved_env = dict(os.environ)
    saved_path = list(sys.path)
    run_env = kernel_environment(env)
    # Capped only if each run can size the pools again; else a pool's threads show in the
    # thread check and its module is not warmed.
    resizable = importlib.util.find_spec("threadpoolctl") is not None
    capped = [name for name in POOL_VARIABLES if not run_env.get(name)] if resizable else []
    os.environ.clear()
    os.environ.update(run_env)
    os.environ.update(dict.fromkeys(capped, "1"))
    sys.path[:] = [entry for entry in sys.path if entry not in {"", "."}]
    try:
        for wanted in modules:
            name = wanted.removesuffix(MAYBE_MODULE)
            if wanted != name and not _is_module(name):
                continue  # `from x import y` with y an attribute of x: nothing more to import
            with _import_output() as output:
                try:
                    importlib.import_module(name)
                except BaseException as err:  # SystemExit or KeyboardInterrupt too
                    error = f"{type(err).__name__}: {err}"
                    skipped[name] = f"the zygote could not import it ({error})"
            if name in skipped:
                continue
            if output:
                unsafe[name.split(".")[0]] = (
                    f"it writes or warns at import ({output[0][:80]!r}), which a run shows"
                )
                break
            threads = thread_count()
            if threads > 1:
                unsafe[name.split(".")[0]] = f"it started {threads - 1} thread(s) at import"
                break
            imported.append(name)
        pools = _find_pools() if capped and imported and not unsafe else []
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
    return {
        "modules": imported,
        "skipped": skipped,
        "unsafe": unsafe,
        "capped": capped,
        "pools": pools,
    }


@contextlib.contextmanager
def _import_output() -> Iterator[list[str]]:
    """What an import prints (fds 1 and 2 included), warns or logs, in the list once done.

    A stock kernel shows it in the cell that imports; imported here it would be lost, so a
    module that says anything at import is not warmed.
    """
    said: list[str] = []
    shown: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = [os.dup(1), os.dup(2)]
    saved_streams = (sys.stdout, sys.stderr)
    saved_show = warnings.showwarning
    text = io.StringIO()
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        sys.stdout = sys.stderr = text
        # Not catch_warnings(): it would also undo the filters the module sets at import.
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        try:
            yield said
        finally:
            warnings.showwarning = saved_show
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            sink.seek(0)
            written = sink.read().decode("utf-8", "replace")
            found = text.getvalue() + written + "\n".join(shown)
            if found.strip():
                said.append(found.strip())


def _is_module(name: str) -> bool:
    """``name`` is a submodule of an imported package (its parent is imported already)."""
    parent, _, _ = name.rpartition(".")
    if parent not in sys.modules or not hasattr(sys.modules[parent], "__path__"):
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except Exception:  # a broken finder: the run imports it itself
        return False


def _find_pools() -> list[str]:
    """The thread pools (OpenMP, BLAS) the imports loaded, by threadpoolctl's name."""
    global _controller
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    _controller = ThreadpoolController()
    return [str(lib.internal_api) for lib in _controller.lib_controllers]


def after_fork(warm: Message, env: Mapping[str, str]) -> None:
    """In a forked run: what a fresh import would have made different in each process."""
    if not warm.get("modules"):
        return
    _reseed()
    _restore_pools(warm, env)


def _reseed() -> None:
    """numpy seeds its global generator from OS entropy at import and, unlike ``random``,
    not again after ``fork()``: without this every run would draw the same numbers."""
    numpy_random = sys.modules.get("numpy.random")
    seed = getattr(numpy_random, "seed", None)
    if callable(seed):
        seed()


def _restore_pools(warm: Message, env: Mapping[str, str]) -> None:
    """Size the pools capped in the zygote as a fresh process would."""
    if _controller is None or not warm.get("capped"):
        return
    capped = set(warm["capped"])
    for lib in _controller.lib_controllers:
        sources = _POOL_SOURCES.get(str(lib.internal_api), ("OMP_NUM_THREADS",))
        if not capped.intersection(sources):
            continue  # the run's environment sized it already
        wanted = _threads_from(sources, env)
        if lib.num_threads != wanted:
            lib.set_num_threads(wanted)


def _threads_from(sources: tuple[str, ...], env: Mapping[str, str]) -> int:
    for name in sources:
        value = env.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0))

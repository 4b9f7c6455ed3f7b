"""The ``mlops`` papermill engine: each run in a fresh fork of a warm kernel process.

Stock papermill starts and stops a Jupyter kernel per run (~0.65 s); a small notebook's code
takes milliseconds. This engine asks a long-lived zygote process (``zygote``) that already
imported IPython to fork one child per run: a clean namespace every time, for ~5 ms. The
child's outputs arrive as nbclient would fold them into the notebook (``session``), so the
output notebook matches a stock run's. Runs of a notebook that imports numpy, pandas, … fork
from a generation of the zygote that imported them already (``warm``; recorded in
``metadata.mlops.engine.warm``), so a sweep pays those imports once.

Use it with ``papermill in.ipynb out.ipynb --engine mlops`` or
``papermill.execute_notebook(..., engine_name="mlops", mlops_cwd=..., mlops_env=...,
mlops_collect=[...], mlops_save={...}, mlops_control=ExecutionControl(), mlops_warm=False,
mlops_watched=False)`` (``mlops_watched=False``: nobody reads the output notebook before the
run ends, so it is written once, at the end, not at the start and as cells finish).

Faults end the run with an ``error`` output on the cell where it stopped, so papermill raises
``PapermillExecutionError`` with that ``ename``: ``DeadKernelError`` (the child died),
``CellTimeoutError`` (``execution_timeout`` per cell), ``RunTimeout`` (the control's
``deadline``), ``RunCancelled`` (``ExecutionControl.cancel()``).

What a forked run cannot be, a stock kernel is: ``fallback`` has the one rule (another
language, another interpreter, a GUI event loop); such notebooks go to papermill's nbclient
engine, with the reason logged and recorded in ``metadata.mlops.engine``.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from typing import Any

import nbformat
from papermill.engines import Engine, NBClientEngine, NotebookExecutionManager

from jupyter_mlops.errors import ExecutionError
from jupyter_mlops.execute import warm
from jupyter_mlops.execute.fallback import fallback_reason, kernelspec_check, record_engine
from jupyter_mlops.execute.outputs import CellOutputs
from jupyter_mlops.execute.protocol import RunSession, RunStoppedError, kill_tree
from jupyter_mlops.execute.warm_zygote import MAYBE_MODULE
from jupyter_mlops.execute.zygotes import UNSAFE_MODULES, ZygoteHandle, get_zygote

log = logging.getLogger(__name__)

SAVE_INTERVAL = 1.0  # seconds between intermediate saves of the output notebook
_PAPERMILL_KWARGS = {"input_path", "timeout"}
_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(message: str, *args: object) -> None:
    text = message % args
    with _warned_lock:
        if text in _warned:
            return
        _warned.add(text)
    log.warning("%s", text)


LANGUAGE_INFO = {  # what ipykernel's kernel_info_reply says, which papermill records
    "name": "python",
    "version": platform.python_version(),
    "mimetype": "text/x-python",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "pygments_lexer": "ipython3",
    "nbconvert_exporter": "python",
    "file_extension": ".py",
}


def _node(value: Any) -> Any:
    """A NotebookNode (attribute access, as papermill and nbclient build them)."""
    return nbformat.from_dict(value)  # type: ignore[no-untyped-call]


class ExecutionControl:
    """Cancel a run from another thread, or give it a deadline; see the child's pid.

    ``deadline`` is a ``time.monotonic()`` value for the whole run (``None``: no limit).
    """

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._cancelled = False
        self._finished = False

    @property
    def pid(self) -> int | None:
        """The run's child process, once it started."""
        return self._pid

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the run now: its child's whole process tree is killed (thread-safe)."""
        with self._lock:
            self._cancelled = True
            pid = None if self._finished else self._pid
        if pid is not None:
            kill_tree(pid)

    def detach(self) -> None:
        """The run is over: its pid may be reused, so ``cancel()`` no longer kills it."""
        with self._lock:
            self._finished = True

    def attach(self, pid: int) -> None:
        """Called by the engine when the child started (a cancel that came first applies)."""
        with self._lock:
            self._pid = pid
            cancelled = self._cancelled
        if cancelled:
            kill_tree(pid)


class _ThrottledManager(NotebookExecutionManager):  # type: ignore[misc]
    """papermill's manager, writing the output notebook at most once a second mid-run.

    papermill rewrites (and validates) the whole notebook at every cell start and end,
    which costs more than a small run's code; the first and the final save always happen.
    """

    def __init__(self, *args: Any, watched: bool = True, **kwargs: Any) -> None:
        self._force = True
        self._last_write = float("-inf")
        self._watched = watched
        self._final_follows = False
        self._completing = False
        super().__init__(*args, **kwargs)

    def save(self, **kwargs: Any) -> None:
        if self._final_follows or not (self._watched or self._completing):
            return
        now = time.monotonic()
        if self._force or now - self._last_write >= SAVE_INTERVAL:
            super().save(**kwargs)
            self._last_write = now

    def complete(self, succeeded: bool) -> None:
        """``notebook_complete``, without its save when the run ended normally: papermill's
        ``execute_notebook`` writes the same notebook right after (its final write), so that
        save was the notebook written twice in a row. A run that raised keeps it: papermill
        writes nothing more then."""
        self._final_follows = succeeded
        self._completing = True
        try:
            self.notebook_complete()
        finally:
            self._final_follows = self._completing = False

    def notebook_start(self, **kwargs: Any) -> None:
        self._force = True
        try:
            super().notebook_start(**kwargs)
        finally:
            self._force = False

    def notebook_complete(self, **kwargs: Any) -> None:
        self._force = True
        super().notebook_complete(**kwargs)


class MLOpsEngine(Engine):  # type: ignore[misc]
    """papermill engine running each notebook in a fresh fork of a warm IPython process."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str | None,
        output_path: str | None = None,
        progress_bar: bool | dict[str, Any] = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        """papermill's ``Engine.execute_notebook`` with fewer intermediate saves."""
        watched = bool(kwargs.pop("mlops_watched", True))
        reason = fallback_reason(nb, kernel_name)
        if reason is not None:
            record_engine(nb, "papermill", kernel_name, reason)
            return cls._stock(
                nb, kernel_name, reason, output_path, progress_bar, log_output, kwargs
            )
        record_engine(nb, "mlops", kernel_name, None)
        nb_man = _ThrottledManager(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
            # False: nobody reads the output notebook before the run ends (a tracked run's
            # private folder), so it is written once, at the end, not also as it goes.
            watched=watched,
        )
        nb_man.notebook_start()
        succeeded = False
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            succeeded = True
        finally:
            nb_man.cleanup_pbar()
            nb_man.complete(succeeded)
        return nb_man.nb

    @classmethod
    def _stock(
        cls,
        nb: Any,
        kernel_name: str | None,
        reason: str,
        output_path: str | None,
        progress_bar: bool | dict[str, Any],
        log_output: bool,
        kwargs: dict[str, Any],
    ) -> Any:
        log.warning("mlops engine: running with papermill's nbclient engine (%s)", reason)
        cwd = kwargs.pop("mlops_cwd", None)
        if cwd is not None:
            kwargs["resources"] = {"metadata": {"path": str(cwd)}}
        kwargs.pop("mlops_warm", None)
        for name in ("mlops_env", "mlops_collect", "mlops_save", "mlops_control"):
            if kwargs.pop(name, None) is not None:
                log.warning("mlops engine: %s is ignored under the nbclient engine", name)
        return NBClientEngine.execute_notebook(
            nb,
            kernel_name,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            **kwargs,
        )

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str | None,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        *,
        mlops_cwd: str | os.PathLike[str] | None = None,
        mlops_env: dict[str, str] | None = None,
        mlops_collect: list[str] | None = None,
        mlops_save: dict[str, str] | None = None,
        mlops_control: ExecutionControl | None = None,
        mlops_warm: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the cells like ``PapermillNotebookClient.papermill_execute_cells``."""
        for name in sorted(set(kwargs) - _PAPERMILL_KWARGS):
            _warn_once("mlops engine: ignoring the unsupported engine option %r", name)
        timeout = execution_timeout or kwargs.get("timeout") or None
        env = dict(os.environ)
        if kernel_name:
            env.update(kernelspec_check(kernel_name)[1])
        env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client sets it for a kernel
        env.update({str(k): str(v) for k, v in (mlops_env or {}).items()})
        control = mlops_control if mlops_control is not None else ExecutionControl()
        cwd = os.path.abspath(mlops_cwd if mlops_cwd is not None else os.getcwd())
        outputs = CellOutputs(nb_man, log_output, stdout_file, stderr_file)
        zygote = _warm_zygote(nb_man.nb, cwd, env, float(start_timeout), mlops_warm)
        session = RunSession(zygote, control, float(start_timeout))
        try:
            stopped = cls._start(session, cwd, env)
            if stopped is None:
                stopped = cls._run_cells(nb_man, session, outputs, timeout)
            else:
                cls._fail_first_cell(nb_man, outputs, stopped)
            if stopped is None:
                nb_man.nb.metadata["language_info"] = dict(LANGUAGE_INFO)
                widgets = outputs.widgets_metadata()
                if widgets is not None:
                    nb_man.nb.metadata["widgets"] = _node(widgets)
                cls._finish(nb_man, session, mlops_collect, mlops_save)
        finally:
            session.close()
        if stopped is not None and stopped.shown:
            # The cell shows the kernel's own KeyboardInterrupt, as under nbclient; the run
            # still fails as what stopped it (papermill would name the interrupt instead).
            raise _stopped_error(nb_man.nb, stopped)
        return nb_man.nb

    @staticmethod
    def _start(session: RunSession, cwd: str, env: dict[str, str]) -> RunStoppedError | None:
        try:
            session.start(cwd, env)
        except RunStoppedError as stopped:
            return stopped
        return None

    @staticmethod
    def _run_cells(
        nb_man: Any, session: RunSession, outputs: CellOutputs, timeout: float | None
    ) -> RunStoppedError | None:
        nb = nb_man.nb
        for index, cell in enumerate(nb.cells):
            try:
                nb_man.cell_start(cell, index)
                tags = cell.metadata.get("tags", [])
                if cell.cell_type != "code" or not cell.source.strip() or "skip-execution" in tags:
                    continue
                outputs.begin(cell, index)
                reply = session.execute(cell.source, timeout, outputs.handle, index)
                outputs.end(reply)
                if reply["status"] == "error" and "raises-exception" not in tags:
                    nb_man.cell_exception(nb.cells[index], cell_index=index, exception=None)
                    break
            except RunStoppedError as stopped:
                stopped.cell = index
                if not stopped.shown:
                    outputs.fail(stopped.ename, stopped.evalue)
                nb_man.cell_exception(nb.cells[index], cell_index=index, exception=stopped)
                return stopped
            finally:
                nb_man.cell_complete(nb.cells[index], cell_index=index)
        return None

    @staticmethod
    def _fail_first_cell(nb_man: Any, outputs: CellOutputs, stopped: RunStoppedError) -> None:
        """A run stopped before its first cell: the failure goes on the first code cell."""
        for index, cell in enumerate(nb_man.nb.cells):
            if cell.cell_type == "code":
                nb_man.cell_start(cell, index)
                outputs.begin(cell, index)
                outputs.fail(stopped.ename, stopped.evalue)
                nb_man.cell_exception(cell, cell_index=index, exception=stopped)
                nb_man.cell_complete(cell, cell_index=index)
                return
        raise ExecutionError(f"{stopped.ename}: {stopped.evalue}")

    @staticmethod
    def _finish(
        nb_man: Any,
        session: RunSession,
        collect: list[str] | None,
        save: dict[str, str] | None,
    ) -> None:
        """Metrics (also from a failed run) and saved values (only from a successful one)."""
        failed = bool(nb_man.nb.metadata.papermill.get("exception"))
        if not collect and (not save or failed):
            return
        record: dict[str, Any] = dict(nb_man.nb.metadata.get("mlops") or {})
        try:
            MLOpsEngine._ask(session, record, collect, None if failed else save)
        finally:
            nb_man.nb.metadata["mlops"] = _node(record)

    @staticmethod
    def _ask(
        session: RunSession,
        record: dict[str, Any],
        collect: list[str] | None,
        save: dict[str, str] | None,
    ) -> None:
        if collect:
            reply = session.request({"op": "collect", "names": list(collect)})
            record["metrics"] = reply["metrics"]
            for name, value in reply["skipped"].items():
                log.warning(
                    "mlops engine: metric %r is %s, not a finite number; skipped", name, value
                )
        if save:
            reply = session.request({"op": "save", "items": dict(save)})
            record["saved"] = reply["saved"]
            record["missing"] = reply["missing"]
            if reply["failed"]:
                name, why = next(iter(reply["failed"].items()))
                raise ExecutionError(
                    f"could not save the value of {name!r}: {why}",
                    hint="check the path and that the value is serializable",
                )


def _warm_zygote(
    nb: Any, cwd: str, env: dict[str, str], start_timeout: float, option: bool | None
) -> ZygoteHandle:
    """The zygote generation that imported what this notebook imports (``warm``); what it
    warmed and what not (and why) goes to ``metadata.mlops.engine.warm``."""
    if not warm.enabled(option):
        return get_zygote(start_timeout)
    zygote: ZygoteHandle | None = None
    for _ in range(3):
        plan = warm.plan_for(nb, cwd, env, UNSAFE_MODULES)
        zygote = _generation(plan, start_timeout)
        if zygote is not None:
            break
    if zygote is None:
        plan = warm.plan_for(nb, cwd, env, UNSAFE_MODULES)
        zygote = get_zygote(start_timeout)
    modules = list(zygote.warm.get("modules") or [])
    skipped = dict(plan.skipped)
    skipped.update(zygote.warm.get("skipped") or {})
    for name in plan.modules:  # left out after too many discarded generations
        if not name.endswith(MAYBE_MODULE):
            skipped.setdefault(name, "not warmed: other imports of this notebook were dropped")
    for name in modules:
        skipped.pop(name, None)
    engine_record = {"modules": modules, "skipped": skipped}
    record: dict[str, Any] = dict(nb.metadata.get("mlops") or {})
    engine = dict(record.get("engine") or {})
    engine["warm"] = engine_record
    record["engine"] = engine
    nb.metadata["mlops"] = _node(record)
    return zygote


def _generation(plan: warm.WarmPlan, start_timeout: float) -> ZygoteHandle | None:
    """The generation for ``plan``; ``None`` when it had to be discarded (a module started a
    thread, or the process died or hung while importing: its modules are then never warmed
    again here, and the caller plans again without them)."""
    try:
        zygote = get_zygote(start_timeout, plan.modules, plan.key, plan.env)
    except ExecutionError as err:
        if not plan.modules:
            raise
        reason = f"the zygote importing it (with {', '.join(plan.modules)}) failed: {err}"
        log.warning("mlops engine: not warming %s: %s", ", ".join(plan.modules), err)
        UNSAFE_MODULES.update({name.split(".")[0]: reason for name in plan.modules})
        return None
    return None if zygote.closed else zygote


def _stopped_error(nb: Any, stopped: RunStoppedError) -> Exception:
    from papermill.exceptions import PapermillExecutionError

    index = stopped.cell or 0
    cell = nb.cells[index]
    error: Exception = PapermillExecutionError(
        cell_index=index,
        exec_count=cell.get("execution_count"),
        source=cell.source,
        ename=stopped.ename,
        evalue=stopped.evalue,
        traceback=[f"{stopped.ename}: {stopped.evalue}"],
    )
    return error

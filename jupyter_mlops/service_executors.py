"""The executors of the service: opened by name once, cancelled and closed together.

Mixed into :class:`~jupyter_mlops.service.MLOps` (its methods take the service as ``self``),
so the facade stays one object for every surface while this part lives in a module of its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .actors import actor_name
from .errors import UnknownNameError

if TYPE_CHECKING:
    from .execute.executors import Executor
    from .execute.kfp_executor import KfpExecutor
    from .execute.kfp_remote import KfpAuth
    from .execute.runner import Runner, RunRequest
    from .notebook.plan import Plan
    from .project import Project
    from .store import Run, Store


class ExecutorMethods:
    """Where runs execute (``execute/executors.py``): local, dask, kfp or a registered one."""

    if TYPE_CHECKING:  # what the service (MLOps) gives this part of it
        project: Project
        executor: str
        dask_address: str
        engine: str
        actor: str
        config: Any
        _executors: dict[str, Executor]
        _open_lock: threading.RLock

        @property
        def store(self) -> Store: ...

        def inspect(self, notebook: Any, *, name: str | None = None) -> Plan: ...

        def _locate(
            self, notebook: str | os.PathLike[str], content: Mapping[str, Any] | None
        ) -> tuple[Path, str, Path]: ...

    @property
    def runner(self) -> Runner:
        """The local executor's runner."""
        return self.get_executor("local").runner

    def get_executor(self, name: str | None = None) -> Executor:
        """The executor registered as ``name`` (default: ``c.MLOps.executor``), opened once."""
        from .execute.executors import executor_class

        name = name or self.executor or "local"
        with self._open_lock:
            found = self._executors.get(name)
            if found is None:
                from .store.private import private_dir

                cls = executor_class(name)  # unknown name: the registered ones, listed
                found = cls(
                    self.store,
                    private_dir(self.project.work_dir),
                    engine=self.engine,
                    project=self.project,
                    parent=self,
                )
                self._executors[name] = found
            return found

    def use_dask_scheduler(self, address: str) -> None:
        """The dask executor's cluster from now on (``--scheduler``)."""
        if address == self.dask_address:
            return
        self.project = self.project.updated({"dask_address": address}, "--scheduler")
        self.dask_address = address
        with self._open_lock:
            previous = self._executors.pop("dask", None)
        if previous is not None:
            previous.close()

    def execute(self, request: RunRequest, *, on_start: Any = None) -> Run:
        """Execute a prepared run on its executor (``prepare_run``) to its end."""
        return self.get_executor(request.executor).execute(request, on_start=on_start)

    def executors(self) -> dict[str, Any]:
        """Every registered executor, the configured default, and opened ones' dashboards;
        ``zygotes``: this process's warm zygotes (modules, memory) that local runs fork from."""
        from .execute.executors import describe_executors
        from .execute.zygotes import zygote_status

        with self._open_lock:
            opened = dict(self._executors)
        described = describe_executors(opened, self.executor or "local", self.config)
        return {**described, "zygotes": zygote_status()}

    def running(self) -> list[str]:
        """The runs this process is executing, on every executor opened."""
        return [run_id for found in list(self._executors.values()) for run_id in found.running()]

    def cancel(self, run_id: str) -> Run:
        """Cancel a run: a queued one is marked ``cancelled`` before it starts; a running one
        this process executes is stopped (its kernel and children killed); one whose owner
        process died is marked ``interrupted`` (nothing of it runs any more).

        Raises ConflictError for a run that already finished, and ExecutionError for one
        running in a live process other than this one (stop it there).
        """
        from .errors import ConflictError, ExecutionError

        run = self.store.get_run(run_id)
        if run.status == "interrupted":
            return run  # its process is gone: nothing left to stop
        if run.finished:
            raise ConflictError(f"run {run.id} already {run.status}; nothing to cancel")
        if run.executor == "kfp" and run.external_id:  # it runs on the KFP server
            return self.kfp_executor().terminate(run)
        if self._cancel_here(run.id):
            return self.store.get_run(run.id)
        if run.status == "queued":
            try:
                return self.store.finish_run(
                    run.id,
                    "cancelled",
                    error={"cell": None, "ename": "RunCancelled", "evalue": "cancelled"},
                )
            except ConflictError:  # it started meanwhile: stop it as a running one
                if self._cancel_here(run.id):
                    return self.store.get_run(run.id)
                run = self.store.get_run(run.id)
        # Owned by another process: if that one died, reconciling marks the run now.
        if run.id in self.store.reconcile_interrupted() or run.finished:
            return self.store.get_run(run.id)
        raise ExecutionError(
            f"run {run.id} is running in another process (pid {run.pid} on {run.host}); "
            "cancel it there"
        )

    def submit(
        self,
        notebook: str | os.PathLike[str],
        parameters: Mapping[str, Any] | None = None,
        *,
        as_text: bool = False,
        host: str | None = None,
        experiment: str | None = None,
        auth: KfpAuth | None = None,
        actor: str | None = None,
    ) -> Run:
        """Start the notebook as a Kubeflow pipeline run, recorded (``execute/kfp_executor``)."""
        path, name, _ = self._locate(notebook, None)
        return self.kfp_executor().submit(
            self.inspect(path, name=name),
            parameters or {},
            as_text=as_text,
            host=host,
            experiment=experiment,
            auth=auth,
            actor=actor_name(actor or self.actor),
        )

    def kfp_executor(self) -> KfpExecutor:
        """The kfp executor: submits notebooks to Kubeflow Pipelines and follows the runs."""
        from .execute.kfp_executor import KfpExecutor

        found = self.get_executor("kfp")
        if not isinstance(found, KfpExecutor):  # another class registered under the name
            raise UnknownNameError(f"executor 'kfp' is {type(found).__name__}, not KfpExecutor")
        return found

    def _runs_executor(self, name: str | None) -> Executor:
        """The executor of a run or sweep (one that cannot take them says what to use)."""
        from .errors import ExecutionError

        chosen = self.get_executor(name)
        if chosen.not_for_runs:
            raise ExecutionError(chosen.not_for_runs)
        return chosen

    def _cancel_here(self, run_id: str) -> bool:
        return any(found.cancel(run_id) for found in list(self._executors.values()))

    def close_executors(self) -> None:
        """Stop what the executors started (a LocalCluster); the store stays open."""
        with self._open_lock:
            executors, self._executors = list(self._executors.values()), {}
        for found in executors:
            found.close()

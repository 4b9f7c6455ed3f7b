"""The ``dask`` executor: each run one task on a Dask worker, recorded here as a local run's.

Which cluster: ``--scheduler``/``c.DaskExecutor.address``/``c.MLOps.dask_address`` names an
existing one (``dask scheduler``, dask-kubernetes, dask-jobqueue); without an address a
``LocalCluster`` (processes, one single-threaded worker per core) is started on first use,
and stopped by ``close()`` (the CLI: when the command ends) or after ``idle_timeout``
seconds with no run using it (the server).

The submitting process keeps the life of the run (``Runner``: record, stage inputs, ingest);
only ``_launch`` differs, shipping the work (``dask_task``) and unpacking what comes back.
Failures: a worker lost mid-run makes the run ``failed`` with "worker lost" (unless
``retries`` allow another attempt); a lost scheduler makes every unfinished run
``interrupted`` and the command fails with one clear line.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Float, Int, Unicode

from ..errors import ExecutionError, MLOpsError
from .executors import Executor
from .runner import Runner

if TYPE_CHECKING:
    from ..store import Run
    from .engine import ExecutionControl
    from .runner import RunRequest
    from .sweep import ProgressCallback, SweepJob, SweepResult

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.25
_CANCEL_GRACE_SECONDS = 10.0  # after a cancel, how long the task may take to stop its kernel
_DISCONNECTED_SECONDS = 5.0  # the client cannot reach the scheduler this long: it is lost
_RESOURCES = {"cpu": "CPU", "memory": "MEMORY", "gpu": "GPU"}  # tag -> worker resource


class SchedulerLostError(ExecutionError):
    """The Dask scheduler went away: the runs it had are interrupted."""


class DaskExecutor(Executor):
    """Runs and sweeps on a Dask cluster (``pip install jupyter-mlops[dask]``)."""

    name = "dask"
    description = "a Dask cluster: an existing scheduler, or a LocalCluster for the command"

    address = Unicode(
        "",
        config=True,
        help="The scheduler, e.g. tcp://10.0.0.5:8786 (default: c.MLOps.dask_address, else a "
        "LocalCluster of one worker per core, started when needed).",
    )
    retries = Int(
        0,
        config=True,
        help="How many times a run whose worker was lost is run again (0: it fails, "
        "'worker lost').",
    )
    n_workers = Int(
        0, config=True, help="Workers of a LocalCluster (0: one per core); one thread each."
    )
    idle_timeout = Float(
        60.0, config=True, help="Seconds a LocalCluster is kept with no run using it."
    )

    @classmethod
    def unavailable(cls) -> str | None:
        if importlib.util.find_spec("distributed") is None:
            return "the dask executor needs dask.distributed: pip install 'jupyter-mlops[dask]'"
        return None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        missing = self.unavailable()
        if missing is not None:
            raise MLOpsError(missing)
        super().__init__(*args, **kwargs)
        if not self.address:
            self.address = self.project.dask_address
        self._lock = threading.Lock()
        self._client: Any = None
        self._cluster: Any = None
        self._users = 0
        self._idle_timer: threading.Timer | None = None
        self._warned: set[str] = set()
        self.lost: str | None = None  # why the scheduler is gone, once it is

    def _make_runner(self) -> Runner:
        return DaskRunner(self)

    # -- the cluster -------------------------------------------------------------------------

    def client(self) -> Any:
        """A connected client; the first use starts the LocalCluster when there is no address."""
        with self._lock:
            if self.lost:
                raise SchedulerLostError(self.lost)
            if self._client is None:
                self._connect()
            return self._client

    def _connect(self) -> None:
        from .dask_task import distributed

        Client, LocalCluster = distributed().Client, distributed().LocalCluster  # noqa: N806
        if self.address:
            try:
                self._client = Client(self.address, timeout=30, set_as_default=False)
            except OSError as err:
                raise ExecutionError(
                    f"cannot reach the Dask scheduler at {self.address}: {err}"
                ) from None
        else:
            self._cluster = LocalCluster(
                n_workers=self.n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            )
            self._client = Client(self._cluster, set_as_default=False)
        logger.warning("Dask: %s, dashboard %s", self.where(), self.dashboard_link())

    def where(self) -> str:
        return self.address or "a LocalCluster"

    def dashboard_link(self) -> str | None:
        if self._client is None:
            return None
        try:
            return str(self._client.dashboard_link)
        except Exception:  # no dashboard (bokeh missing) or not reachable
            return None

    def acquire(self) -> Any:
        with self._lock:
            self._users += 1
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        try:
            return self.client()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """A run is done with the cluster; an idle LocalCluster is closed after a while."""
        with self._lock:
            self._users -= 1
            if self._users or self._cluster is None or self._idle_timer is not None:
                return
            self._idle_timer = threading.Timer(self.idle_timeout, self._close_if_idle)
            self._idle_timer.daemon = True
            self._idle_timer.start()

    def _close_if_idle(self) -> None:
        with self._lock:
            self._idle_timer = None
            if self._users:
                return
        self.close()

    def close(self) -> None:
        with self._lock:
            client, cluster = self._client, self._cluster
            self._client = self._cluster = None
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        for thing in (client, cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception as err:  # a scheduler already gone
                    logger.debug("closing Dask %s: %s", thing, err)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "scheduler": self.where(), "dashboard": self.dashboard_link()}

    # -- resources ---------------------------------------------------------------------------

    def resources(self, client: Any, request: RunRequest) -> dict[str, float]:
        """The run's ``mlops:cpu|memory|gpu`` tags as worker resources the cluster declares.

        A tag no worker declares is reported by name (once) and not asked for: Dask would
        otherwise hold the task forever.
        """
        plan = request.plan
        functions = [plan.function(request.function)] if request.function else plan.functions
        wanted: dict[str, float] = {}
        for function in functions:
            for tag, resource in _RESOURCES.items():
                value = function.options.get(tag)
                if value is not None:
                    amount = _amount(tag, str(value))
                    wanted[resource] = max(wanted.get(resource, 0.0), amount)
        if not wanted:
            return {}
        declared: set[str] = set()
        for worker in client.scheduler_info().get("workers", {}).values():
            declared.update(worker.get("resources") or {})
        kept = {name: amount for name, amount in wanted.items() if name in declared}
        for name in sorted(set(wanted) - declared):
            if name not in self._warned:
                self._warned.add(name)
                logger.warning(
                    "%s: no Dask worker declares the resource %s (tag mlops:%s); runs are "
                    "placed without it (start workers with --resources %s=N)",
                    request.notebook_name,
                    name,
                    name.lower(),
                    name,
                )
        return kept

    # -- sweeps ------------------------------------------------------------------------------

    def run_sweep(
        self,
        job: SweepJob,
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> SweepResult:
        """As a local sweep (``parallel`` tasks in flight); a lost scheduler is an error."""
        self.acquire()  # one cluster for the whole sweep, not one per run
        try:
            result = super().run_sweep(
                job, parallel=parallel, fail_fast=fail_fast, on_progress=on_progress
            )
        finally:
            self.release()
        if self.lost:
            interrupted = sum(run.status == "interrupted" for run in result.runs)
            raise SchedulerLostError(
                f"{self.lost}; {interrupted} unfinished run(s) of sweep {result.sweep.id[:12]} "
                "were marked interrupted"
            )
        return result

    def execute(self, request: RunRequest, *, on_start: Any = None) -> Run:
        run = super().execute(request, on_start=on_start)
        if self.lost and run.status == "interrupted":
            raise SchedulerLostError(f"{self.lost}; run {run.id[:12]} was marked interrupted")
        return run


class DaskRunner(Runner):
    """A Runner whose notebook executes as one Dask task (``dask_task.run_task``)."""

    executor_name = "dask"

    def __init__(self, executor: DaskExecutor) -> None:
        super().__init__(executor.store, executor.work_dir, engine=executor.engine)
        self.executor = executor
        self._futures: dict[str, Any] = {}

    def _launch(
        self,
        request: RunRequest,
        run: Run,
        notebook: Any,
        parameters: dict[str, Any],
        folder: Path,
        control: ExecutionControl,
        *,
        collect: list[str],
        save: dict[str, str],
    ) -> tuple[str, dict[str, Any] | None]:
        from .dask_blobs import pack, shared_blobs, unpack
        from .dask_task import Payload, run_task, unpack_folder

        try:
            client = self.executor.acquire()
        except SchedulerLostError as err:
            return "interrupted", _error("SchedulerLost", str(err))
        blobs = shared_blobs(self.store.artifact_url, self.store.artifacts_dir)
        try:
            files, refs = pack(folder, blobs)  # the staged inputs
            payload = Payload(
                run_id=run.id,
                request=request,
                notebook_bytes=request.notebook.read_bytes(),
                executed=None if isinstance(notebook, str) else notebook,
                parameters=parameters,
                collect=collect,
                save=save,
                folder=str(folder),
                default_engine=self.engine,
                files=files,
                timeout=request.timeout,
                retries=self.executor.retries,
                artifact_url=self.store.artifact_url if blobs is not None else None,
                refs=refs,
            )
            future = client.submit(
                run_task,
                payload,
                key=f"mlops-run-{run.id}",
                pure=False,
                retries=0,
                resources=self.executor.resources(client, request) or None,
            )
            with self._lock:
                self._futures[run.id] = future
            try:
                outcome = self._wait(client, run, future, control)
            finally:
                with self._lock:
                    self._futures.pop(run.id, None)
                _forget(client, run.id)
        finally:
            self.executor.release()
        if isinstance(outcome, tuple):
            return outcome
        if outcome.worker:
            self.store.update_run(run.id, worker=outcome.worker)
        if outcome.lost is not None:
            return "failed", _error("WorkerLost", f"worker lost ({outcome.lost})")
        unpack_folder(outcome.files, folder)
        unpack(outcome.refs, folder, blobs)
        return outcome.status, outcome.error

    def _wait(self, client: Any, run: Run, future: Any, control: ExecutionControl) -> Any:
        """The task's Outcome, or (status, error) when it never came back."""
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        from .dask_task import distributed

        Event = distributed().Event  # noqa: N806

        worker_known = False
        cancelled_at: float | None = None
        disconnected_at: float | None = None
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except TimeoutError:
                pass
            except KilledWorker:
                return "failed", _error("WorkerLost", "worker lost (the task killed its workers)")
            except (FutureCancelledError, OSError) as err:
                if cancelled_at is not None:
                    return "cancelled", _error("RunCancelled", "cancelled")
                return self._scheduler_lost(client, err)
            except Exception as err:  # the task itself raised: a fault of ours, named
                logger.warning("Dask task of run %s raised", run.id, exc_info=True)
                return "failed", _error(type(err).__name__, f"on the Dask worker: {err}")
            now = time.monotonic()
            if client.status != "running":
                disconnected_at = disconnected_at or now
                if now - disconnected_at > _DISCONNECTED_SECONDS:
                    return self._scheduler_lost(client, None)
                continue
            disconnected_at = None
            if not worker_known:
                state = _state(client, run.id)
                if state is not None:
                    worker_known = True
                    self.store.update_run(run.id, worker=str(state["worker"]))
            if control.cancelled and cancelled_at is None:
                cancelled_at = now
                Event(_cancel_name(run.id), client=client).set()
            if cancelled_at is not None and now - cancelled_at > _CANCEL_GRACE_SECONDS:
                future.cancel()  # still queued, or its worker does not answer
                return "cancelled", _error("RunCancelled", "cancelled")

    def _scheduler_lost(self, client: Any, err: BaseException | None) -> tuple[str, dict[str, Any]]:
        where = self.executor.where()
        self.executor.lost = f"lost the Dask scheduler at {where}"
        logger.warning("%s: %s", self.executor.lost, err)
        return "interrupted", _error("SchedulerLost", self.executor.lost)


def _state(client: Any, run_id: str) -> dict[str, Any] | None:
    from .dask_task import state_key

    try:
        value: dict[str, Any] | None = client.get_metadata(state_key(run_id), None)
    except Exception:  # a scheduler hiccup: ask again
        return None
    return value


def _forget(client: Any, run_id: str) -> None:
    """Drop the run's state and cancel flag on the scheduler (they would pile up)."""
    from .dask_task import cancel_name, distributed, state_key

    try:
        client.set_metadata(state_key(run_id), None)
        distributed().Event(cancel_name(run_id), client=client).clear()
    except Exception as err:  # the scheduler is gone
        logger.debug("forgetting run %s on the scheduler: %s", run_id, err)


def _cancel_name(run_id: str) -> str:
    from .dask_task import cancel_name

    return cancel_name(run_id)


def _error(ename: str, evalue: str) -> dict[str, Any]:
    return {"cell": None, "ename": ename, "evalue": evalue}


def _amount(tag: str, value: str) -> float:
    """``500m`` CPU as 0.5, ``4Gi`` memory in bytes, a GPU count as it is."""
    if tag == "cpu":
        return float(value[:-1]) / 1000 if value.endswith("m") else float(value)
    if tag == "memory":
        from dask.utils import parse_bytes

        return float(parse_bytes(value))
    return float(value)

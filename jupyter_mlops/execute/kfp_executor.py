"""Executor ``kfp``: a notebook submitted to Kubeflow Pipelines as one pipeline run, followed.

A KFP run is a whole pipeline on a cluster, not one papermill run here, so this executor does
not fit ``run``/``sweep`` (they say to use ``submit``). ``submit`` compiles the notebook with
the ``kfp`` conversion target, starts the run with ``kfp.Client`` (``kfp_remote.py``) and
records it as a run with executor ``kfp``, the KFP run id (``external_id``) and page
(``external_url``). The record then follows the KFP run by polling, each poll moving it
queued -> running -> succeeded/failed/cancelled, with the pipeline's metrics at the end:

- ``wait``: the submitting process polls until the run ends (``submit --wait``);
- ``follow_in_background``: a thread of a long-lived process (the Jupyter server) does;
- ``refresh``: a read (``runs --executor kfp``) polls the unfinished runs it lists, within a
  time budget, so a run nobody follows is brought up to date when someone looks.

Polls are ``poll_interval`` (2 s) apart, so a followed run's record is at most that behind.
Such a run has an external id, so the store never marks it interrupted when the submitting
process ends (``store/reconcile.py``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Float, Int, Unicode
from traitlets.config import Config

from ..errors import ConflictError, ExecutionError
from .executors import Executor
from .kfp_remote import (
    HOST_ENV,
    KfpAuth,
    KfpError,
    RemoteState,
    connect,
    fetch,
    host_of,
    run_url,
    start,
    terminate,
)

if TYPE_CHECKING:
    import kfp

    from ..notebook.plan import Plan
    from ..store import Run
    from .runner import Runner, RunRequest
    from .sweep import ProgressCallback, SweepJob, SweepResult

logger = logging.getLogger(__name__)

USE_SUBMIT = (
    "the kfp executor runs a whole notebook as a Kubeflow pipeline: use "
    "`jupyter mlops submit NOTEBOOK --host URL` (or %mlops submit, POST /mlops/api/submit)"
)
NO_HOST = "no Kubeflow Pipelines host"
HOST_HINT = f"pass --host URL, or set c.KfpExecutor.host or {HOST_ENV}"


class KfpExecutor(Executor):
    """Submits notebooks to a Kubeflow Pipelines API server and follows their runs."""

    name = "kfp"
    description = "Kubeflow Pipelines: `submit` compiles the notebook, starts and follows the run"
    not_for_runs = USE_SUBMIT

    host = Unicode(
        "",
        config=True,
        help=f"The KFP API server (https://kfp.example.org); default: {HOST_ENV}.",
    )
    experiment = Unicode("Default", config=True, help="The KFP experiment runs are started in.")
    poll_interval = Float(2.0, config=True, help="Seconds between two polls of a followed KFP run.")
    poll_failures = Int(
        5, config=True, help="Polls in a row that may fail before following a run gives up."
    )
    refresh_budget = Float(
        3.0,
        config=True,
        help="Seconds a listing of kfp runs may spend asking the server about unfinished ones.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[tuple[str, KfpAuth], kfp.Client] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._followers: dict[str, threading.Thread] = {}

    def _make_runner(self) -> Runner:
        from .runner import Runner

        return Runner(self.store, self.work_dir, engine=self.engine)  # for the base's contract

    def execute(self, request: RunRequest, *, on_start: Callable[[Run], None] | None = None) -> Run:
        raise ExecutionError(USE_SUBMIT, notebook=request.notebook_name)

    def run_sweep(
        self,
        job: SweepJob,
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> SweepResult:
        raise ExecutionError(USE_SUBMIT)

    def running(self) -> list[str]:
        return []  # nothing executes in this process

    def cancel(self, run_id: str) -> bool:
        return False

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host or os.environ.get(HOST_ENV) or None}

    @classmethod
    def unavailable(cls) -> str | None:
        if importlib.util.find_spec("kfp") is None:
            return "needs the kfp SDK: pip install 'jupyter-mlops[kfp]'"
        return None

    @classmethod
    def unavailable_in(cls, config: Config) -> str | None:
        reason = cls.unavailable()
        host = config.get(cls.__name__, {}).get("host") or os.environ.get(HOST_ENV)
        if reason is None and not host:
            reason = f"{NO_HOST}: set c.KfpExecutor.host or {HOST_ENV} (or submit --host URL)"
        return reason

    # -- submitting --------------------------------------------------------------------------

    def submit(
        self,
        plan: Plan,
        values: Mapping[str, Any],
        *,
        as_text: bool = False,
        host: str | None = None,
        experiment: str | None = None,
        auth: KfpAuth | None = None,
        actor: str | None = None,
    ) -> Run:
        """Compile ``plan``, start it with ``values`` on the KFP server and record the run."""
        from ..convert.registry import get_converter
        from .params import check_parameters
        from .runner import notebook_version

        server = self._host(host)
        effective = check_parameters(plan, values, as_text=as_text)
        arguments = {name: _plain(effective[name]) for name in values}
        auth = auth or KfpAuth.from_environment()
        client = self._client(server, auth)  # unreachable: fail before compiling
        with tempfile.TemporaryDirectory(prefix="kfp-", dir=self._temp_root()) as folder:
            result = get_converter("kfp").convert(plan, Path(folder))
            for warning in result.warnings:
                logger.warning("%s: %s", plan.notebook, warning)
            package = next(path for path in result.files if path.suffix == ".yaml")
            stem = package.name.removesuffix("_pipeline.yaml").replace("_", "-")
            # Recorded first: a store that cannot record it stops the submission, and a run
            # the server refuses is kept as failed, with the server's reason.
            run, _ = self.store.create_run(
                notebook=plan.notebook,
                version=notebook_version(plan),
                parameters=effective,
                executor=self.name,
                actor=actor,
            )
            try:
                external_id = start(
                    client,
                    package,
                    arguments,
                    experiment=experiment or self.experiment,
                    pipeline=stem,
                    name=f"{stem}-{run.id[:8]}",
                )
            except KfpError as err:
                error = {"cell": None, "ename": "KFP submission failed", "evalue": err.message}
                self.store.finish_run(run.id, "failed", error=error)
                raise
        logger.info("run %s is KFP run %s on %s", run.id, external_id, server)
        return self.store.update_run(
            run.id, external_id=external_id, external_url=run_url(server, external_id)
        )

    # -- following ---------------------------------------------------------------------------

    def wait(
        self,
        run: Run,
        *,
        auth: KfpAuth | None = None,
        on_change: Callable[[Run], None] | None = None,
    ) -> Run:
        """Poll until the KFP run ends; ``on_change`` sees each new status."""
        client = self._client_for(run, auth)
        current = run
        failures = 0
        while True:
            try:
                updated = self.sync(current, client)
                failures = 0
            except KfpError as err:  # the server or the network, for a moment?
                failures += 1
                if failures >= self.poll_failures:
                    raise
                logger.warning("run %s: %s (trying again)", run.id, err)
                updated = current
            if on_change is not None and updated.status != current.status:
                on_change(updated)
            current = updated
            if current.finished:
                return current
            if self._stop.wait(self.poll_interval):
                return current

    def follow_in_background(self, run: Run, *, auth: KfpAuth | None = None) -> None:
        """Follow the run on a thread until it ends or the executor closes."""

        def follow() -> None:
            try:
                self.wait(run, auth=auth)
            except Exception:
                logger.exception("stopped following KFP run %s (run %s)", run.external_id, run.id)
            finally:
                with self._lock:
                    self._followers.pop(run.id, None)

        thread = threading.Thread(target=follow, name=f"kfp-follow-{run.id[:8]}", daemon=True)
        with self._lock:
            self._followers[run.id] = thread
        thread.start()

    def refresh(self, runs: list[Run], *, auth: KfpAuth | None = None) -> bool:
        """Poll the unfinished KFP runs listed, within ``refresh_budget`` seconds; whether
        any record changed. A server that cannot be reached leaves its runs as they are."""
        deadline = time.monotonic() + self.refresh_budget
        changed = False
        for run in runs:
            if run.finished or run.executor != self.name or not run.external_id:
                continue
            left = deadline - time.monotonic()
            if left <= 0.2:
                logger.info("kfp runs not refreshed: over the %.1f s budget", self.refresh_budget)
                break
            try:
                client = self._client_for(run, auth)
                changed |= self.sync(run, client, timeout=left).status != run.status
            except KfpError as err:
                logger.warning("run %s: %s", run.id, err)
        return changed

    def sync(self, run: Run, client: kfp.Client, *, timeout: float = 10.0) -> Run:
        """Bring the record of ``run`` to what the KFP server says now."""
        assert run.external_id is not None
        return record_state(self, run.id, fetch(client, run.external_id, timeout=timeout))

    def terminate(self, run: Run, *, auth: KfpAuth | None = None) -> Run:
        """Stop the KFP run (the server terminates it) and record it ``cancelled``."""
        assert run.external_id is not None
        terminate(self._client_for(run, auth), run.external_id)
        cancelled = RemoteState("CANCELED", "cancelled", "terminated from jupyter-mlops", {})
        return record_state(self, run.id, cancelled)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            followers = list(self._followers.values())
        for thread in followers:
            thread.join(timeout=5)

    # -- helpers -----------------------------------------------------------------------------

    def _host(self, given: str | None) -> str:
        host = given or self.host or os.environ.get(HOST_ENV)
        if not host:
            raise KfpError(NO_HOST, hint=HOST_HINT)
        return host.rstrip("/")

    def _client(self, host: str, auth: KfpAuth) -> kfp.Client:
        with self._lock:
            found = self._clients.get((host, auth))
        if found is None:
            found = connect(host, auth)
            with self._lock:
                self._clients[host, auth] = found
        return found

    def _client_for(self, run: Run, auth: KfpAuth | None) -> kfp.Client:
        host = host_of(run.external_url or "")
        if host is None:
            raise KfpError(f"run {run.id} has no KFP run page to follow it by")
        return self._client(host, auth or KfpAuth.from_environment())

    def _temp_root(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir


def record_state(executor: KfpExecutor, run_id: str, remote: RemoteState) -> Run:
    """Move the record to the remote state; a record already final is left as it is (another
    follower may have got there first)."""
    store = executor.store
    current = store.get_run(run_id)
    try:
        if current.finished:
            return current
        if remote.status == "running" and current.status == "queued":
            current = store.start_run(run_id)
        if remote.status in ("succeeded", "failed", "cancelled"):
            error = None
            if remote.status != "succeeded":
                error = {
                    "cell": None,
                    "ename": f"KFP run {remote.state.lower()}",
                    "evalue": remote.error or f"the KFP run ended {remote.state}",
                }
            current = store.finish_run(
                run_id, remote.status, error=error, metrics=remote.metrics or None
            )
    except ConflictError:
        return store.get_run(run_id)
    return current


def _plain(value: Any) -> Any:
    """A checked parameter value as the JSON a KFP parameter takes (a tuple: a list)."""
    return list(value) if isinstance(value, tuple) else value

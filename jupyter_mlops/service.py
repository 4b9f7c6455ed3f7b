"""The one object every surface calls (CLI, magics, REST handlers, sidebar).

Surfaces translate arguments in and results out; the work happens here and below, so two
surfaces never hold two copies of the same logic. Configuration is traitlets only, so
``c.MLOps.store_url = "postgresql://…"`` works in ``jupyter_server_config.py`` too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Float, Int, Unicode, validate
from traitlets.config import LoggingConfigurable

from .actors import actor_name, os_user
from .convert.registry import ConvertResult, available, get_converter
from .notebook.parser import parse_notebook
from .notebook.plan import Plan
from .notebook.reader import NOTEBOOK_SOURCE, NotebookSource
from .project import DEFAULT_KEEP_WARM, DEFAULT_MAX_SWEEP_RUNS, SETTINGS, Project
from .service_executors import ExecutorMethods

if TYPE_CHECKING:
    from .deploy import Deployments
    from .execute.executors import Executor
    from .execute.runner import RunRequest
    from .execute.sweep import ProgressCallback, SweepJob, SweepResult
    from .loop.policies import PolicyManager
    from .loop.promotion import Promotion
    from .store import AliasMove, Run, RunPage, Store, Version


class MLOps(LoggingConfigurable, ExecutorMethods):
    """Inspect, convert and run notebooks; runs, versions and artifacts go to the store."""

    root_dir = Unicode(
        config=True,
        help="The project root: notebooks are resolved inside it and .mlops/ lives in it "
        "(default: the current directory).",
    )
    state_dir = Unicode(
        config=True,
        help="Where the project's own files go: run work folders, deployments, staged "
        "notebooks (default: the folder of a SQLite store, else <root_dir>/.mlops).",
    )
    store_url = Unicode(
        config=True,
        help="SQLAlchemy URL of the run store (default: SQLite at <state_dir>/mlops.db; "
        "a postgresql:// URL for a team).",
    )
    artifacts_dir = Unicode(
        config=True, help="Where artifact bytes are kept (default: <state_dir>/artifacts)."
    )
    artifact_url = Unicode(
        config=True,
        help="fsspec URL where artifact bytes are shared (s3://bucket/prefix…); default: "
        "artifacts_dir. With a URL, artifacts_dir is the local cache of what was read.",
    )
    engine = Unicode(
        "mlops",
        config=True,
        help="papermill engine for runs: 'mlops' (a warm, forked kernel per run) or "
        "'papermill' (stock nbclient, one new kernel per run, runs one at a time).",
    )
    cell_timeout = Float(
        0.0, config=True, help="Seconds a cell may run before the run fails (0: no limit)."
    )
    keep_warm = Float(
        DEFAULT_KEEP_WARM,
        config=True,
        help="Seconds the zygotes a CLI command started stay warm for the next command "
        "(its interpreter, IPython and the notebook's imports, forked per run); 0: they end "
        "with the command. `jupyter mlops zygotes` lists them; --stop ends them.",
    )
    max_sweep_runs = Int(
        DEFAULT_MAX_SWEEP_RUNS,
        config=True,
        help="The most runs one sweep may make; a larger sweep is refused before anything "
        "is recorded, naming its count (use max_runs, or a random sample, to cut it down).",
    )

    executor = Unicode(
        "local",
        config=True,
        help="Where runs and sweeps execute unless a request names one: 'local', 'dask', or "
        "an executor registered under the jupyter_mlops.executors entry point group.",
    )
    dask_address = Unicode(
        "",
        config=True,
        help="The Dask scheduler of the dask executor (tcp://host:8786); empty: a "
        "LocalCluster of one worker per core, started when needed.",
    )

    @validate("root_dir")
    def _absolute_root(self, proposal: dict[str, Any]) -> str:
        return str(Path(proposal["value"]).resolve())

    def __init__(
        self, project: Project | None = None, *, pooled: bool = True, **kwargs: Any
    ) -> None:
        """``project``: the settings a surface loaded (``project.load_project``), with any
        setting also given here on top; without one, the traits given here (or by a parent's
        config) are resolved as they are, and no config file is read. ``pooled``: False in a
        short-lived process (the CLI, a kernel), which then keeps no idle database connection."""
        super().__init__(**kwargs)
        self._pooled = pooled
        if project is not None:  # settings passed here as well win (a --engine flag)
            given = {key: kwargs[key] for key in SETTINGS if kwargs.get(key) is not None}
            project = project.updated(given, "MLOps(...)")
        if project is None:
            traits = self.traits()
            given = {
                key: getattr(self, key)
                for key in SETTINGS
                if getattr(self, key) != traits[key].default_value
            }
            project = Project.resolve(given, dict.fromkeys(given, "MLOps(...)"))
        self.project = project
        self.actor = os_user()  # who this service acts as unless a call names someone
        for key in SETTINGS:
            setattr(self, key, getattr(project, key))
        self._store: Store | None = None
        self._executors: dict[str, Executor] = {}
        self._open_lock = threading.RLock()  # runner opens the store under it too

    # -- notebooks ---------------------------------------------------------------------------

    def inspect(
        self, notebook: NOTEBOOK_SOURCE | NotebookSource, *, name: str | None = None
    ) -> Plan:
        """The Plan of a notebook (a path, nbformat content, or a read NotebookSource)."""
        return parse_notebook(notebook, name=name)

    def convert(
        self,
        notebook: NOTEBOOK_SOURCE | NotebookSource | Plan,
        target: str,
        output_dir: str | Path,
        *,
        name: str | None = None,
        strict: bool = False,
    ) -> ConvertResult:
        """Convert to a registered target, writing into ``output_dir``; the result's warnings
        include the notebook's (as ``inspect`` gives them); ``strict``: any warning is a
        StrictConvertError and nothing is written."""
        from .convert.checked import convert_checked

        converter = get_converter(target)  # unknown target: fail before reading anything
        plan = notebook if isinstance(notebook, Plan) else self.inspect(notebook, name=name)
        return convert_checked(converter, plan, Path(output_dir), strict=strict)

    def targets(self) -> dict[str, str]:
        return available()

    # -- runs --------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store, opened (and migrated, and reconciled) on first use."""
        with self._open_lock:
            if self._store is None:
                from .store import Store

                self._store = Store(
                    self.store_url, self.artifacts_dir, self.artifact_url, pooled=self._pooled
                )
            return self._store

    @property
    def deployments(self) -> Deployments:
        """Deploy, list, stop and roll back the project's deployments (``deploy/``)."""
        from .deploy import Deployments

        return Deployments(self)

    def describe(
        self, notebook: str | os.PathLike[str], *, content: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The Plan of a notebook in the root (or of its live ``content``) and each cell's role.

        What the sidebar shows: functions with the parameters each reads, and one role per
        cell for the badges drawn on cells.
        """
        from .notebook.reader import read_notebook
        from .notebook.roles import describe

        path, name, _ = self._locate(notebook, content)
        source = read_notebook(content if content is not None else path, name=name)
        return describe(source, self.inspect(source, name=name))

    def check(
        self,
        notebook: str | os.PathLike[str],
        parameters: Mapping[str, Any],
        *,
        content: Mapping[str, Any] | None = None,
        as_text: bool = False,
        function: str | None = None,
    ) -> dict[str, Any]:
        """Check parameter values as a run would, without running: the complete values."""
        request = self._request(
            notebook, parameters, as_text=as_text, function=function, content=content, stage=False
        )
        return dict(request.parameters)

    def run(
        self,
        notebook: str | os.PathLike[str],
        *,
        parameters: Mapping[str, Any] | None = None,
        as_text: bool = False,
        function: str | None = None,
        from_run: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        content: Mapping[str, Any] | None = None,
        engine: str | None = None,
        kernel: str | None = None,
        actor: str | None = None,
        executor: str | None = None,
    ) -> Run:
        """Run a whole notebook or one function, tracked; returns the finished run.

        A duplicate of a run still going (the same ``idempotency_key``, here or in another
        process) waits for that run and returns it finished: a retry reports the outcome.
        """
        import time

        run = self.execute(
            self.prepare_run(
                notebook,
                parameters=parameters,
                as_text=as_text,
                function=function,
                from_run=from_run,
                idempotency_key=idempotency_key,
                timeout=timeout,
                content=content,
                engine=engine,
                kernel=kernel,
                actor=actor,
                executor=executor,
            )
        )
        while not run.finished:  # reads mark it interrupted if its process dies meanwhile
            time.sleep(0.25)
            run = self.store.get_run(run.id)
        return run

    def prepare_run(
        self,
        notebook: str | os.PathLike[str],
        *,
        parameters: Mapping[str, Any] | None = None,
        as_text: bool = False,
        function: str | None = None,
        from_run: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        content: Mapping[str, Any] | None = None,
        engine: str | None = None,
        kernel: str | None = None,
        actor: str | None = None,
        executor: str | None = None,
    ) -> RunRequest:
        """Check everything and record the run ``queued``; ``execute`` runs it.

        A server answers with the queued run at once and executes it in the background.
        With ``content`` (the editor's live notebook, unsaved edits included) that content
        runs, in the directory of ``notebook``. ``engine`` ('mlops' | 'papermill') and
        ``kernel`` (instead of the notebook's kernelspec) apply to this run only.
        """
        request = self._request(
            notebook,
            parameters or {},
            as_text=as_text,
            function=function,
            from_run=from_run,
            idempotency_key=idempotency_key,
            timeout=timeout,
            content=content,
            engine=engine,
            kernel=kernel,
            actor=actor,
        )
        chosen = self._runs_executor(executor)  # an unknown name: refused before recording
        request = replace(request, executor=chosen.name)
        run, _ = chosen.runner.record(request)
        # A duplicate (same idempotency key) runs where the first was recorded, if at all:
        # one key, one run, on one executor, whichever executor the retry named.
        return replace(request, run_id=run.id, executor=run.executor or chosen.name)

    def sweep(
        self,
        notebook: str | os.PathLike[str],
        space: Mapping[str, list[Any]],
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
        **options: Any,
    ) -> SweepResult:
        """Run every point of a parameter space; every value is checked before any run.

        ``options`` are those of :meth:`prepare_sweep`.
        """
        from .execute.sweep import check_parallel

        check_parallel(parallel)
        job = self.prepare_sweep(notebook, space, **options)
        return self.run_sweep(job, parallel=parallel, fail_fast=fail_fast, on_progress=on_progress)

    def prepare_sweep(
        self,
        notebook: str | os.PathLike[str],
        space: Mapping[str, list[Any]],
        *,
        fixed: Mapping[str, Any] | None = None,
        as_text: bool = False,
        function: str | None = None,
        strategy: str = "grid",
        max_runs: int | None = None,
        seed: int | None = None,
        select: str | None = None,
        from_run: str | None = None,
        content: Mapping[str, Any] | None = None,
        engine: str | None = None,
        kernel: str | None = None,
        actor: str | None = None,
        executor: str | None = None,
    ) -> SweepJob:
        """Check the space, record the sweep and its runs ``queued``; ``run_sweep`` runs it."""
        from .execute.prepare import check_space
        from .execute.sweep import Selector, SweepExecutor, points, sweep_size

        chosen = self._runs_executor(executor)  # an unknown name: refused before recording
        request = self._request(
            notebook,
            fixed or {},
            as_text=as_text,
            function=function,
            from_run=from_run,
            content=content,
            engine=engine,
            kernel=kernel,
            actor=actor,
        )
        plan = request.plan
        # counted first: a space too large to sweep is refused before a value is checked
        count = sweep_size(dict(space), strategy, max_runs=max_runs, limit=self.max_sweep_runs)
        checked = check_space(plan, space, as_text=as_text)
        selector = Selector.parse(select) if select else None
        if selector is not None:
            selector.check(request)
        return SweepExecutor(self.store, chosen.runner).prepare(
            replace(request, executor=chosen.name),
            points(checked, strategy, count=count, seed=seed),
            strategy=strategy,
            space=checked,
            select=selector,
        )

    def run_sweep(
        self,
        job: SweepJob,
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> SweepResult:
        name = job.requests[0].executor if job.requests else None
        return self.get_executor(name).run_sweep(
            job, parallel=parallel, fail_fast=fail_fast, on_progress=on_progress
        )

    def runs(
        self,
        *,
        notebook: str | None = None,
        function: str | None = None,
        status: str | None = None,
        sweep: str | None = None,
        executor: str | None = None,
        order_by: str = "created_at",
        descending: bool = True,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        sweep_id = self.store.get_sweep(sweep).id if sweep else None

        def page() -> RunPage:
            return self.store.list_runs(
                notebook=notebook,
                function=function,
                status=status,
                sweep_id=sweep_id,
                executor=executor,
                order_by=order_by,
                descending=descending,
                limit=limit,
                cursor=cursor,
            )

        found = page()
        unfinished = executor == "kfp" and any(not run.finished for run in found.runs)
        # Their live state: the KFP server is asked, within a time budget.
        if unfinished and self.kfp_executor().refresh(found.runs):
            found = page()
        return found

    def show(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def versions(self, function: str) -> list[Version]:
        return self.store.list_versions(function)

    def alias_history(self, function: str) -> list[AliasMove]:
        return self.store.alias_history(function)

    def diff(self, function: str, a: str, b: str) -> tuple[Version, Version, str]:
        """Two versions of a function (by version prefix or alias) and a unified diff."""
        from .store.versions import code_diff

        old = self.store.get_version(function, a)
        new = self.store.get_version(function, b)
        return old, new, code_diff(function, old, new)

    def tag(self, function: str, version: str, alias: str, actor: str | None = None) -> Version:
        """Point ``alias`` (staging, production, any name) at a version of a function."""
        from .execute.params import check_alias

        who = actor_name(actor or self.actor)
        return self.store.set_alias(function, version, check_alias(alias), actor=who)

    def promote(
        self,
        notebook: str | os.PathLike[str],
        function: str,
        *,
        to: str,
        gate: str | None = None,
        run: str | None = None,
        actor: str | None = None,
    ) -> Promotion:
        """Move ``to`` onto a run of ``function`` that passes ``gate`` (``loop/promotion.py``)."""
        from .loop.promotion import promote

        who = actor_name(actor or self.actor)
        return promote(self, notebook, function, to=to, gate=gate, run=run, actor=who)

    @property
    def policies(self) -> PolicyManager:
        """The deployments' retraining policies (``loop/policies.py``)."""
        from .loop.policies import PolicyManager

        return PolicyManager(self)

    # -- helpers -----------------------------------------------------------------------------

    def _locate(
        self, notebook: str | os.PathLike[str], content: Mapping[str, Any] | None
    ) -> tuple[Path, str, Path]:
        """(path in the root, store name, working directory): see ``paths.locate_notebook``."""
        from .paths import locate_notebook

        return locate_notebook(self.root_dir, notebook, content)

    def _request(
        self,
        notebook: str | os.PathLike[str],
        parameters: Mapping[str, Any],
        *,
        as_text: bool,
        actor: str | None = None,
        **options: Any,
    ) -> RunRequest:
        """A checked request (``execute/prepare.py``); ``options`` are ``build_request``'s."""
        from .execute.prepare import build_request

        request = build_request(
            self.root_dir,
            notebook,
            parameters,
            store=self.store,
            posted_dir=self.project.posted_dir,
            cell_timeout=self.cell_timeout or None,
            as_text=as_text,
            **options,
        )
        return replace(request, actor=actor_name(actor or self.actor))

    def close(self) -> None:
        self.close_executors()
        if self._store is not None:
            self._store.close()
            self._store = None

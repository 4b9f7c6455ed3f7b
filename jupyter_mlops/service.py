"""The one object every surface calls (CLI, magics, REST handlers, sidebar).

Surfaces translate arguments in and results out; the work happens here and below, so two
surfaces never hold two copies of the same logic. Configuration is traitlets only, so
``c.MLOps.store_url = "postgresql://…"`` works in ``jupyter_server_config.py`` too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Float, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from .convert.registry import ConvertResult, available, get_converter
from .notebook.parser import parse_notebook
from .notebook.plan import Plan
from .notebook.reader import NOTEBOOK_SOURCE, NotebookSource

if TYPE_CHECKING:
    from .execute.runner import Runner
    from .execute.sweep import ProgressCallback, SweepResult
    from .store import Run, RunPage, Store, Version

STATE_DIR = ".mlops"


class MLOps(LoggingConfigurable):
    """Inspect, convert and run notebooks; runs, versions and artifacts go to the store."""

    root_dir = Unicode(
        config=True,
        help="The project root: notebooks are resolved inside it and .mlops/ lives in it "
        "(default: the current directory).",
    )
    store_url = Unicode(
        config=True,
        help="SQLAlchemy URL of the run store (default: SQLite at <root_dir>/.mlops/mlops.db; "
        "a postgresql:// URL for a team).",
    )
    artifacts_dir = Unicode(
        config=True, help="Where artifact bytes are kept (default: <root_dir>/.mlops/artifacts)."
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

    @default("root_dir")
    def _default_root(self) -> str:
        return os.getcwd()

    @validate("root_dir")
    def _absolute_root(self, proposal: dict[str, Any]) -> str:
        return str(Path(proposal["value"]).resolve())

    @default("store_url")
    def _default_store_url(self) -> str:
        return f"sqlite:///{Path(self.root_dir) / STATE_DIR / 'mlops.db'}"

    @default("artifacts_dir")
    def _default_artifacts(self) -> str:
        return str(Path(self.root_dir) / STATE_DIR / "artifacts")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store: Store | None = None
        self._runner: Runner | None = None
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
    ) -> ConvertResult:
        """Convert to a registered target, writing into ``output_dir``."""
        converter = get_converter(target)  # unknown target: fail before reading anything
        plan = notebook if isinstance(notebook, Plan) else self.inspect(notebook, name=name)
        return converter.convert(plan, Path(output_dir))

    def targets(self) -> dict[str, str]:
        return available()

    # -- runs --------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store, opened (and migrated, and reconciled) on first use."""
        with self._open_lock:
            if self._store is None:
                from .store import Store

                self._store = Store(self.store_url, self.artifacts_dir)
            return self._store

    @property
    def runner(self) -> Runner:
        with self._open_lock:
            if self._runner is None:
                from .execute.runner import Runner

                work = Path(self.root_dir) / STATE_DIR / "work"
                self._runner = Runner(self.store, work, engine=self.engine)
            return self._runner

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
    ) -> Run:
        """Run a whole notebook or one function, tracked; returns the finished run."""
        request = self._request(
            notebook,
            parameters or {},
            as_text=as_text,
            function=function,
            from_run=from_run,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )
        return self.runner.execute(request)

    def sweep(
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
        parallel: int = 1,
        select: str | None = None,
        fail_fast: bool = False,
        from_run: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> SweepResult:
        """Run every point of a parameter space; every value is checked before any run."""
        from .execute.params import check_value, declared
        from .execute.sweep import Selector, SweepExecutor, expand

        request = self._request(
            notebook, fixed or {}, as_text=as_text, function=function, from_run=from_run
        )
        plan = request.plan
        checked: dict[str, list[Any]] = {}
        for name, values in space.items():
            parameter = declared(plan, name)
            checked[name] = [check_value(plan, parameter, v, as_text=as_text) for v in values]
        selector = Selector.parse(select) if select else None
        points = expand(checked, strategy, max_runs=max_runs, seed=seed)
        return SweepExecutor(self.store, self.runner).run(
            request,
            points,
            strategy=strategy,
            space=checked,
            parallel=parallel,
            select=selector,
            fail_fast=fail_fast,
            on_progress=on_progress,
        )

    def cancel(self, run_id: str) -> bool:
        """Cancel a run this process executes (the CLI's Ctrl-C, the server's cancel)."""
        return self.runner.cancel(self.store.get_run(run_id).id)

    def runs(
        self,
        *,
        notebook: str | None = None,
        function: str | None = None,
        status: str | None = None,
        sweep: str | None = None,
        order_by: str = "created_at",
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        sweep_id = self.store.get_sweep(sweep).id if sweep else None
        return self.store.list_runs(
            notebook=notebook,
            function=function,
            status=status,
            sweep_id=sweep_id,
            order_by=order_by,
            limit=limit,
            cursor=cursor,
        )

    def show(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def versions(self, function: str) -> list[Version]:
        return self.store.list_versions(function)

    def tag(self, function: str, version: str, alias: str) -> Version:
        """Point ``alias`` (staging, production, any name) at a version of a function."""
        from .execute.params import check_alias

        return self.store.set_alias(function, version, check_alias(alias))

    # -- helpers -----------------------------------------------------------------------------

    def _request(
        self,
        notebook: str | os.PathLike[str],
        parameters: Mapping[str, Any],
        *,
        as_text: bool,
        function: str | None = None,
        from_run: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        from .execute.params import check_parameters
        from .execute.runner import RunRequest
        from .paths import notebook_in_root, relative_name

        path = notebook_in_root(self.root_dir, notebook)
        name = relative_name(self.root_dir, path)
        plan = self.inspect(path, name=name)
        if function is not None:
            function = plan.function(function).name  # unknown function: fail now
        values = check_parameters(plan, parameters, as_text=as_text)
        if from_run is not None:
            from_run = self.store.get_run(from_run).id
        return RunRequest(
            notebook=path,
            notebook_name=name,
            plan=plan,
            parameters=values,
            function=function,
            from_run=from_run,
            idempotency_key=idempotency_key,
            timeout=timeout,
            cell_timeout=self.cell_timeout or None,
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._runner = None

"""Where runs execute, by name: ``local`` (this machine) built in, ``dask`` and third parties'.

An executor owns a :class:`~.runner.Runner` (recording, inputs, ingesting results stay in
one place) and decides where the notebook itself runs: the local one in this process's
kernels, a remote one by shipping the work and unpacking what comes back (``_launch``).
Surfaces pick one by name through ``MLOps.executor``; third parties register theirs under the
``jupyter_mlops.executors`` entry-point group (built-ins are listed there too). Unknown names
raise UnknownNameError listing the registered ones (CLI exit 2, REST 400).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from traitlets.config import Config, LoggingConfigurable

from ..errors import UnknownNameError

if TYPE_CHECKING:
    from ..project import Project
    from ..store import Run, Store
    from .runner import Runner, RunRequest
    from .sweep import ProgressCallback, SweepJob, SweepResult

ENTRY_POINT_GROUP = "jupyter_mlops.executors"
BUILTIN = {
    "local": "jupyter_mlops.execute.executors:LocalExecutor",
    "dask": "jupyter_mlops.execute.dask_executor:DaskExecutor",
}


class Executor(LoggingConfigurable):
    """Runs and sweeps of one kind of compute; configurable as ``c.<ClassName>.…``."""

    name: ClassVar[str]
    description: ClassVar[str]
    # Why ``run``/``sweep`` cannot use it (it executes something else: whole pipelines), or
    # None; surfaces refuse such a request before anything is recorded.
    not_for_runs: ClassVar[str | None] = None

    def __init__(
        self, store: Store, work_dir: Path, *, engine: str, project: Project, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.work_dir = work_dir
        self.engine = engine
        self.project = project
        self.runner = self._make_runner()

    def _make_runner(self) -> Runner:
        raise NotImplementedError

    def execute(self, request: RunRequest, *, on_start: Callable[[Run], None] | None = None) -> Run:
        """Run one request to its end (see ``Runner.execute``)."""
        return self.runner.execute(request, on_start=on_start)

    def run_sweep(
        self,
        job: SweepJob,
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> SweepResult:
        """Execute a prepared sweep, ``parallel`` runs at a time."""
        from .sweep import SweepExecutor

        return SweepExecutor(self.store, self.runner).run(
            job, parallel=parallel, fail_fast=fail_fast, on_progress=on_progress
        )

    def cancel(self, run_id: str) -> bool:
        """Stop a run this executor is executing; False if it is not one of its runs."""
        return self.runner.cancel(run_id)

    def running(self) -> list[str]:
        return self.runner.running()

    def info(self) -> dict[str, Any]:
        """What a surface shows about it (a remote one: its scheduler, its dashboard)."""
        return {"name": self.name}

    @classmethod
    def unavailable(cls) -> str | None:
        """Why it cannot run here (an extra not installed), or None."""
        return None

    @classmethod
    def unavailable_in(cls, config: Config) -> str | None:
        """``unavailable``, also judging the settings (a remote one without an address)."""
        return cls.unavailable()

    def close(self) -> None:
        """Release what it started (a cluster); runs still going are the caller's."""


class LocalExecutor(Executor):
    """Today's execution: papermill in this process, a sweep on a thread pool."""

    name = "local"
    description = "this machine: papermill with the mlops engine, sweeps on a thread pool"

    def _make_runner(self) -> Runner:
        from .runner import Runner

        return Runner(self.store, self.work_dir, engine=self.engine)


def available() -> dict[str, str]:
    """Every executor name and where its class lives (built-ins first)."""
    found = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def describe_executors(
    opened: dict[str, Executor], default: str, config: Config | None = None
) -> dict[str, Any]:
    """Every registered executor for a surface to offer: whether it can run here (its extra
    installed), and, once opened, what it shows (a cluster's dashboard)."""
    listed = []
    for name in sorted(available(), key=lambda n: (n not in BUILTIN, n)):
        reason: str | None = None
        description = ""
        try:
            cls = executor_class(name)
            description = cls.description
            reason = cls.unavailable_in(config or Config())
        except (ImportError, AttributeError, UnknownNameError) as err:
            reason = f"cannot load it: {err}"
        info = opened[name].info() if name in opened else {}
        listed.append(
            {
                "name": name,
                "description": description,
                "available": reason is None,
                "reason": reason,
                "dashboard_url": info.get("dashboard"),
            }
        )
    return {"default": default, "executors": listed}


def executor_class(name: str) -> type[Executor]:
    """The class registered as ``name`` (imported: a missing extra says how to install it)."""
    target = BUILTIN.get(name) or available().get(name)
    if target is None:
        raise UnknownNameError(
            f"no executor {name!r}", hint="executors: " + ", ".join(sorted(available()))
        )
    module_name, _, attribute = target.partition(":")
    found: type[Executor] = getattr(import_module(module_name), attribute)
    return found

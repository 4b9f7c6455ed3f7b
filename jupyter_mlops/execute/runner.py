"""One tracked run: a whole notebook or one function, through papermill, into the store.

The life of a run::

    check parameters (nothing starts on a bad value)
      → record it `queued` (an idempotency key returns the run already recorded)
      → for a function: find its inputs (--from RUN, else the newest run that produced
        them, else run the upstream functions first) and stage them as files
      → `running`: papermill executes the notebook with the `mlops` engine (or stock
        papermill: asked for, or what the engine cannot do, said in the log and recorded
        in the output notebook's ``metadata.mlops.engine``)
      → metrics, values, artifacts and the output notebook into the store
      → `succeeded` | `failed` | `cancelled`, with the failing cell named

Everything a run writes while it runs lives in a private folder under ``.mlops/work/``; the
store only ever receives finished files, so a crash leaves the store as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# papermill first: importing it loads our engine through its entry point, and importing the
# engine module before papermill would make that a circular import.
import papermill  # noqa: F401

from ..convert.notebooks import DATA_DIR, function_notebook
from ..datasets import parameter_files
from ..errors import ConflictError, MLOpsError
from ..notebook.plan import Function, Plan
from ..runtime import (
    ARTIFACTS_DIR,
    ARTIFACTS_FILE,
    INPUTS_FILE,
    METRICS_FILE,
    kind_of_value_file,
)
from ..store import Run, Store
from ..store.lookup import is_hex_prefix
from .artifact_names import value_artifact
from .engine import ExecutionControl
from .launch import OUTPUT_NOTEBOOK, check_engine, launch
from .params import relevant
from .value_files import StoredValue, copy_value

logger = logging.getLogger(__name__)


@dataclass
class RunRequest:
    """What to run; ``parameters`` are already checked and complete (defaults filled in)."""

    notebook: Path
    notebook_name: str  # how the store names it: relative to the project root
    plan: Plan
    parameters: dict[str, Any]
    function: str | None = None
    from_run: str | None = None
    idempotency_key: str | None = None
    sweep_id: str | None = None
    parent_id: str | None = None
    timeout: float | None = None  # seconds for the whole run
    cell_timeout: float | None = None
    run_id: str | None = None  # a run already recorded `queued` (sweeps record theirs first)
    cwd: Path | None = None  # where the code runs (default: the notebook's folder)
    engine: str | None = None  # 'mlops' | 'papermill' for this run (default: the Runner's)
    kernel: str | None = None  # kernel name instead of the notebook's kernelspec (papermill -k)
    actor: str | None = None  # who asked (the Jupyter user, or the OS user of a CLI)
    executor: str | None = None  # where it runs: a registered executor (default: the config's)


@dataclass
class _Staged:
    """A function run's inputs: files to place under the data folder, and where they came from."""

    files: dict[tuple[str, str], Path] = field(default_factory=dict)  # (producer id, name)
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)


class Runner:
    """Executes RunRequests and records them; one Runner serves many threads."""

    executor_name = "local"  # recorded on each run; a remote runner overrides _launch too

    def __init__(self, store: Store, work_dir: Path, *, engine: str = "mlops") -> None:
        check_engine(engine)
        self.store = store
        self.work_dir = work_dir
        self.engine = engine
        self._controls: dict[str, ExecutionControl] = {}
        self._lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------

    def record(self, request: RunRequest) -> tuple[Run, bool]:
        """Record the run as `queued` (or find the one with the same idempotency key)."""
        function = request.plan.function(request.function) if request.function else None
        self._register_versions(request)
        return self.store.create_run(
            notebook=request.notebook_name,
            function=function.name if function else None,
            version=function.version if function else notebook_version(request.plan),
            parameters=self._recorded_parameters(request, function),
            executor=self.executor_name,
            sweep_id=request.sweep_id,
            parent_id=request.parent_id,
            idempotency_key=request.idempotency_key,
            actor=request.actor,
        )

    def record_points(self, request: RunRequest, points: list[dict[str, Any]]) -> list[str]:
        """Record one `queued` run per point of a sweep at once (a sweep has no keys)."""
        function = request.plan.function(request.function) if request.function else None
        self._register_versions(request)
        return self.store.create_queued(
            notebook=request.notebook_name,
            function=function.name if function else None,
            version=function.version if function else notebook_version(request.plan),
            parameters=[
                self._recorded_parameters(replace(request, parameters=point), function)
                for point in points
            ],
            sweep_id=request.sweep_id or "",
            actor=request.actor,
            executor=self.executor_name,
        )

    def execute(self, request: RunRequest, *, on_start: Callable[[Run], None] | None = None) -> Run:
        """Run it to the end and return the final record (a failed run is not an exception)."""
        if request.run_id is None:
            run, created = self.record(request)
            if not created:
                return run  # the same idempotency key: that run, not a second one
            run_id = run.id
        else:
            # A run a sweep or a queue created: not read first, since starting it checks it
            # is still queued anyway (one read fewer for each run of a sweep).
            run_id = _whole_id(request.run_id) or self.store.get_run(request.run_id).id
        control = ExecutionControl()
        if request.timeout:
            control.deadline = time.monotonic() + request.timeout
        with self._lock:
            if run_id in self._controls:  # a duplicate submit (same idempotency key): it goes
                return self.store.get_run(run_id)
            self._controls[run_id] = control
        try:
            try:
                run = self.store.start_run(run_id)
            except ConflictError:
                # Cancelled while it waited in a queue, or a duplicate submit started it first
                # (here or in another process): that run and its folder are not ours to touch.
                return self.store.get_run(run_id)
            folder = self.work_dir / run.id
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if on_start is not None:
                    on_start(run)
                return self._execute(request, run, control, folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        finally:
            with self._lock:
                if self._controls.get(run_id) is control:
                    del self._controls[run_id]

    def cancel(self, run_id: str) -> bool:
        """Stop a run this process is executing; False if it is not running here."""
        with self._lock:
            control = self._controls.get(run_id)
        if control is None:
            return False
        control.cancel()
        return True

    def running(self) -> list[str]:
        with self._lock:
            return list(self._controls)

    # -- the run -----------------------------------------------------------------------------

    def _execute(
        self, request: RunRequest, run: Run, control: ExecutionControl, folder: Path
    ) -> Run:
        plan = request.plan
        function = plan.function(request.function) if request.function else None
        try:
            if function is not None:
                staged = self._stage_inputs(request, run, function, folder / "data")
                self.store.update_run(run.id, inputs=staged.provenance)
                notebook: Any = _node(function_notebook(plan, function))
                parameters = {
                    **relevant(_overrides(plan, request.parameters), function.parameters),
                    DATA_DIR: str(folder / "data"),
                }
                collect = list(function.metrics)
                save: dict[str, str] = {}
            else:
                notebook = str(request.notebook)
                parameters = _overrides(plan, request.parameters)
                collect = [metric.name for metric in plan.metrics]
                save = self._whole_notebook_saves(plan, folder / "values")
        except _UpstreamFailedError as failed:
            return self.store.finish_run(run.id, "failed", error=failed.error)
        except MLOpsError as err:
            return self.store.finish_run(
                run.id,
                "failed",
                error={"cell": err.cell, "ename": type(err).__name__, "evalue": err.message},
            )
        reads = parameter_files(
            self._recorded_parameters(request, function), request.cwd or request.notebook.parent
        )  # hashed as the run starts: what it was given, not what it may have rewritten
        status, error = self._launch(
            request, run, notebook, parameters, folder, control, collect=collect, save=save
        )
        metrics = self._ingest(run, plan, function, folder, save)
        reads += _json_lines(folder / "runtime" / INPUTS_FILE)
        self.store.lineage.record(run.id, reads)
        return self.store.finish_run(run.id, status, error=error, metrics=metrics)

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
        """Execute into ``folder`` (here; a remote runner ships it and unpacks the result)."""
        return launch(
            request,
            notebook,
            parameters,
            folder,
            control,
            default_engine=self.engine,
            collect=collect,
            save=save,
        )

    # -- inputs of a function run ------------------------------------------------------------

    def _stage_inputs(
        self, request: RunRequest, run: Run, function: Function, data_dir: Path
    ) -> _Staged:
        plan = request.plan
        staged = _Staged()
        by_producer: dict[str, list[str]] = {}
        for name in function.data_inputs:
            by_producer.setdefault(function.sources[name], []).append(name)
        for producer_name, names in by_producer.items():
            producer = plan.function(producer_name)
            source_run, how = self._producer_run(request, run, producer, names)
            artifacts = {a.name: a for a in source_run.artifacts}
            for name in names:
                artifact = artifacts[value_artifact(producer, name)]
                target = data_dir / producer.identifier / name
                target.parent.mkdir(parents=True, exist_ok=True)
                self.store.artifact_path(artifact.id)  # a shared store's bytes are fetched
                copy_value(StoredValue.of(artifact), target)  # sha256 checked
                staged.files[(producer.identifier, name)] = target
                staged.provenance[name] = {
                    "function": producer.name,
                    "run": source_run.id,
                    "how": how,
                }
        return staged

    def _producer_run(
        self, request: RunRequest, run: Run, producer: Function, names: list[str]
    ) -> tuple[Run, str]:
        """The run whose outputs feed this one, and how it was chosen."""
        wanted = {value_artifact(producer, name) for name in names}
        if request.from_run:
            source = self.store.get_run(request.from_run)
            missing = wanted - {a.name for a in source.artifacts}
            if missing:
                raise MLOpsError(
                    f"run {source.id[:12]} has no {', '.join(sorted(missing))} (it ran "
                    f"{source.function or 'the whole notebook'}, status {source.status})",
                    notebook=request.notebook_name,
                    hint=f"pick a run that produced the outputs of {producer.name!r}",
                )
            return source, "from-run"
        newest = self.store.newest_artifact(
            sorted(wanted)[0], notebook=request.notebook_name, status="succeeded"
        )
        if newest is not None:
            candidate = self.store.get_run(newest.run_id)
            if wanted <= {a.name for a in candidate.artifacts}:
                return candidate, "newest"
        upstream = self.execute(
            RunRequest(
                notebook=request.notebook,
                notebook_name=request.notebook_name,
                plan=request.plan,
                parameters=request.parameters,
                function=producer.name,
                parent_id=run.id,
                cell_timeout=request.cell_timeout,
                engine=request.engine,
                kernel=request.kernel,
            )
        )
        if upstream.status != "succeeded":
            raise _UpstreamFailedError(
                {
                    "cell": (upstream.error or {}).get("cell"),
                    "ename": "UpstreamFailed",
                    "evalue": f"upstream function {producer.name!r} {upstream.status} in run "
                    f"{upstream.id[:12]}",
                }
            )
        return upstream, "upstream-ran"

    # -- results -----------------------------------------------------------------------------

    @staticmethod
    def _whole_notebook_saves(plan: Plan, values_dir: Path) -> dict[str, str]:
        """Every function output of a whole-notebook run is kept, so function runs can reuse it."""
        values_dir.mkdir(parents=True, exist_ok=True)
        saves: dict[str, str] = {}
        for function in plan.functions:
            for name in function.outputs:
                saves[name] = str(values_dir / f"{function.identifier}.{name}")
        return saves

    def _ingest(
        self,
        run: Run,
        plan: Plan,
        function: Function | None,
        folder: Path,
        save: dict[str, str],
    ) -> dict[str, float]:
        """Move what the run produced into the store; return its metrics."""
        metrics: dict[str, float] = {}
        files: list[tuple[str, str, str | Path]] = []  # recorded in one go, in this order
        output = folder / OUTPUT_NOTEBOOK
        if output.is_file():
            files.append((OUTPUT_NOTEBOOK, "notebook", output))
            metadata = json.loads(output.read_text(encoding="utf-8")).get("metadata", {})
            metrics.update(metadata.get("mlops", {}).get("metrics", {}))
        if function is not None:
            produced = {
                name: folder / "data" / function.identifier / name for name in function.outputs
            }
            files += _value_files(function, produced)
        else:
            for producer in plan.functions:
                produced = {name: Path(save[name]) for name in producer.outputs if name in save}
                files += _value_files(producer, produced)
        runtime_dir = folder / "runtime"
        metrics.update(_logged_metrics(runtime_dir / METRICS_FILE))
        for record in _json_lines(runtime_dir / ARTIFACTS_FILE):
            path = runtime_dir / ARTIFACTS_DIR / str(record["file"])
            if path.is_file():
                files.append((str(record["name"]), str(record["kind"]), path))
        if files:
            self.store.add_artifacts(
                run.id, files, output_notebook=OUTPUT_NOTEBOOK if output.is_file() else None
            )
        return metrics

    # -- records -----------------------------------------------------------------------------

    def _register_versions(self, request: RunRequest) -> None:
        for function in request.plan.functions:
            code = "\n\n".join(cell.source for cell in function.cells)
            self.store.register_version(
                function.name, function.version, notebook=request.notebook_name, code=code
            )

    @staticmethod
    def _recorded_parameters(request: RunRequest, function: Function | None) -> dict[str, Any]:
        if function is None:
            return dict(request.parameters)
        return relevant(request.parameters, function.parameters)


def _value_files(
    function: Function, produced: dict[str, Path]
) -> list[tuple[str, str, str | Path]]:
    """The values a function left, as artifacts to record: (name, kind, path)."""
    return [
        (value_artifact(function, name), kind_of_value_file(path), path)
        for name, path in produced.items()
        if path.is_file()
    ]


class _UpstreamFailedError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        super().__init__(error["evalue"])


def notebook_version(plan: Plan) -> str:
    """A whole notebook's version: the versions of its functions, in run order."""
    text = "\n".join(f"{function.name}:{function.version}" for function in plan.functions)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _overrides(plan: Plan, values: dict[str, Any]) -> dict[str, Any]:
    """The values that differ from the notebook's defaults: what papermill should inject."""
    defaults = {parameter.name: parameter.default for parameter in plan.parameters}
    return {
        name: value
        for name, value in values.items()
        if name not in defaults
        or value != defaults[name]
        or type(value) is not type(defaults[name])
    }


def _node(content: Mapping[str, Any]) -> Any:
    import nbformat

    return nbformat.from_dict(content)  # type: ignore[no-untyped-call]


def _json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a killed kernel
            logger.warning("skipping a damaged line in %s", path)
    return records


def _logged_metrics(path: Path) -> dict[str, float]:
    return {str(r["name"]): float(r["value"]) for r in _json_lines(path) if "name" in r}


def _whole_id(run_id: str) -> str | None:
    """``run_id`` if it is a whole run id (32 lowercase hex digits), else None."""
    text = run_id.strip().lower()
    return text if len(text) == 32 and is_hex_prefix(text, 32) else None

"""Which stored values feed the served function's upstream inputs.

The same choice a one-function run makes (``execute/runner.py``): the run given with
``--from``, else the newest succeeded run of the notebook that produced every value needed
from one upstream function. Unlike a run, serving never executes the upstream functions: no
such run is an error that says which function to run first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..errors import MLOpsError
from ..execute.artifact_names import value_artifact
from ..execute.value_files import StoredValue, check_value, describe, load_value
from ..notebook.plan import Function, Plan

if TYPE_CHECKING:
    from ..store import Run, Store


@dataclass(frozen=True)
class BoundInput:
    """One upstream input and the stored bytes it is read from."""

    name: str  # the input's name in the function
    function: str  # the upstream function that produced it
    run: str  # the run that produced it
    run_version: str | None  # that function's version in that run
    artifact: str
    sha256: str
    path: str
    how: str  # why this run: "from-run", "newest" or "best of sweep ID by max:METRIC"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bind_inputs(
    store: Store, plan: Plan, function: Function, notebook_name: str, from_run: str | None
) -> list[BoundInput]:
    """Every data input of ``function`` bound to an artifact; MLOpsError if one cannot be."""
    by_producer: dict[str, list[str]] = {}
    for name in function.data_inputs:
        by_producer.setdefault(function.sources[name], []).append(name)
    bound: list[BoundInput] = []
    for producer_name, names in by_producer.items():
        producer = plan.function(producer_name)
        run, how = producer_run(store, producer, names, notebook_name, from_run)
        artifacts = {artifact.name: artifact for artifact in run.artifacts}
        for name in names:
            artifact = artifacts[value_artifact(producer, name)]
            local = store.artifact_path(artifact.id)  # a shared store's bytes are fetched
            check_value(StoredValue.of(artifact))  # a changed file fails here, by name
            bound.append(
                BoundInput(
                    name=name,
                    function=producer.name,
                    run=run.id,
                    run_version=run.version,
                    artifact=artifact.id,
                    sha256=artifact.sha256,
                    path=str(local),
                    how=how,
                )
            )
    return bound


def producer_run(
    store: Store, producer: Function, names: list[str], notebook_name: str, from_run: str | None
) -> tuple[Run, str]:
    """The run whose outputs ``names`` of ``producer`` are used, and why that one (also the
    challenger ``promote`` picks, so deploy and promote never disagree)."""
    wanted = {value_artifact(producer, name) for name in names}
    if from_run:
        run = store.get_run(from_run)
        missing = wanted - {artifact.name for artifact in run.artifacts}
        if missing:
            raise MLOpsError(
                f"run {run.id[:12]} has no {', '.join(sorted(missing))} (it ran "
                f"{run.function or 'the whole notebook'}, status {run.status})",
                notebook=notebook_name,
                hint=f"pick a run that produced the outputs of {producer.name!r}",
            )
        return run, "from-run"
    newest = store.newest_artifact(sorted(wanted)[0], notebook=notebook_name, status="succeeded")
    if newest is not None:
        run = store.get_run(newest.run_id)
        if wanted <= {artifact.name for artifact in run.artifacts}:
            return _sweep_best(store, run, wanted) or (run, "newest")
    raise MLOpsError(
        f"no succeeded run produced {', '.join(sorted(wanted))}",
        notebook=notebook_name,
        hint=f"run {producer.name!r} (or the whole notebook) first, or pass --from RUN_ID",
    )


def _sweep_best(store: Store, newest: Run, wanted: set[str]) -> tuple[Run, str] | None:
    """Right after a sweep, what the user means is the run the sweep selected, not the one
    that happened to finish last: the sweep's best run, when it produced the same outputs."""
    if newest.sweep_id is None:
        return None
    sweep = store.get_sweep(newest.sweep_id)
    if sweep.best_run_id is None or sweep.best_run_id == newest.id:
        return (
            (newest, f"best of sweep {sweep.id[:12]} by {sweep.select}") if sweep.select else None
        )
    best = store.get_run(sweep.best_run_id)
    if best.status != "succeeded" or not wanted <= {a.name for a in best.artifacts}:
        return None
    return best, f"best of sweep {sweep.id[:12]} by {sweep.select}"


def load_values(binding: list[dict[str, Any]]) -> dict[str, Any]:
    """The bound values, each checked against its sha256 before it is decoded.

    A value stored with pickle is unpickled: the files are the project's own store, written
    by the notebook's own functions; never point a deployment at a store you do not trust.
    """
    return {entry["name"]: load_value(_stored(entry)) for entry in binding}


def _stored(entry: dict[str, Any]) -> StoredValue:
    label = describe(f"{entry['function']}/{entry['name']}", entry["artifact"], entry["run"])
    return StoredValue(entry["path"], entry["sha256"], label)

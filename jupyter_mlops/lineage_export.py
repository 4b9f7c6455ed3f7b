"""OpenLineage run events for recorded runs (https://openlineage.io/spec, RunEvent).

Each run gives a START event and, once it ended, its COMPLETE / FAIL / ABORT event. The job is
the notebook (and function) in the ``jupyter_mlops`` namespace; inputs are the data sets the
run read (a file in the ``file`` namespace by its absolute path, a DataFrame by its hash),
with the schema facet and a content-hash facet; outputs are the run's artifacts. Pure
conversion of store records: no network, so events can be written as JSON lines and shipped
by whatever the team uses (Marquez, a Kafka topic…).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .store.records import Run

if TYPE_CHECKING:
    from .store import Store

NAMESPACE = "jupyter_mlops"
PRODUCER = f"https://github.com/jupyter-mlops/jupyter_mlops/tree/v{__version__}"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
FACETS = "https://openlineage.io/spec/facets/1-1-1"
OWN_FACETS = "https://jupyter-mlops.invalid/spec/facets/1-0-0"  # ours: hash, run details

END_EVENTS = {"succeeded": "COMPLETE", "failed": "FAIL", "cancelled": "ABORT"}
EXPORT_PAGE = 500


def store_events(store: Store, which: str) -> list[dict[str, Any]]:
    """One run's events (``which``: a run id or prefix), or (``all``) every run's, by time."""
    if which != "all":
        run = store.get_run(which)
        return run_events(run, store.lineage.of_run(run.id))
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = store.list_runs(limit=EXPORT_PAGE, cursor=cursor)
        for run in page.runs:
            events.extend(run_events(run, store.lineage.of_run(run.id)))
        cursor = page.next_cursor
        if not cursor:
            break
    events.sort(key=lambda event: str(event["eventTime"]))
    return events


def run_events(run: Run, datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The OpenLineage events of one run (START, then its end if it ended)."""
    start = _event("START", run.started_at or run.created_at, run, datasets)
    if not run.finished:
        return [start]
    end_type = END_EVENTS.get(run.status, "ABORT")  # interrupted: the process died
    return [start, _event(end_type, run.ended_at or run.created_at, run, datasets)]


def _event(
    event_type: str, when: datetime, run: Run, datasets: list[dict[str, Any]]
) -> dict[str, Any]:
    job = run.notebook if run.function is None else f"{run.notebook}:{run.function}"
    return {
        "eventType": event_type,
        "eventTime": when.isoformat(),
        "producer": PRODUCER,
        "schemaURL": SPEC,
        "run": {
            "runId": str(uuid.UUID(hex=run.id)),
            "facets": {
                "jupyterMlops": {
                    **_facet("JupyterMlopsRunFacet"),
                    "version": run.version,
                    "status": run.status,
                    "actor": run.actor,
                    "parameters": run.parameters,
                    "metrics": dict(run.metrics),
                }
            },
        },
        "job": {"namespace": NAMESPACE, "name": job},
        "inputs": [_input(read) for read in datasets],
        "outputs": [
            {
                "namespace": NAMESPACE,
                "name": f"artifact/{artifact.sha256}",
                "facets": {"contentHash": _hash_facet(artifact.sha256, artifact.size)},
            }
            for artifact in run.artifacts
        ],
    }


def _input(read: dict[str, Any]) -> dict[str, Any]:
    facets: dict[str, Any] = {"contentHash": _hash_facet(read["sha256"], read["size"])}
    if read.get("schema"):
        facets["schema"] = {
            "_producer": PRODUCER,
            "_schemaURL": f"{FACETS}/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
            "fields": [{"name": f["name"], "type": f["type"]} for f in read["schema"]],
        }
    if read.get("uri"):
        return {"namespace": "file", "name": read["uri"], "facets": facets}
    return {"namespace": NAMESPACE, "name": f"dataframe/{read['sha256']}", "facets": facets}


def _hash_facet(sha256: str, size: int) -> dict[str, Any]:
    return {**_facet("ContentHashDatasetFacet"), "sha256": sha256, "size": size}


def _facet(name: str) -> dict[str, str]:
    return {"_producer": PRODUCER, "_schemaURL": f"{OWN_FACETS}/{name}.json"}

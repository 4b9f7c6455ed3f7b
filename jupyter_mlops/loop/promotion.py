"""Promotion: judge a challenger run against the champion behind an alias, move the alias.

The challenger is a run of one function: the run named (``--run``), else the one the deploy
binding rule would pick (the newest succeeded run that produced the function's outputs, or
the sweep's selected best right after a sweep). The champion of an alias is the run it was
promoted with, else the newest succeeded run of the version it points at. The gate compares
their metrics (``gate.py``); when it passes, the alias moves to the challenger's version
*and run* in the same transaction as its ``promote`` event, and the deployments that follow
the alias roll over at once (``deploy/follow.py``). A gate that fails moves nothing and says
which clause failed, with both values. Every outcome is a ``gate`` event (and ``promote``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MLOpsError, NotFoundError
from . import gate as gates

if TYPE_CHECKING:
    from ..notebook.plan import Function, Plan
    from ..service import MLOps
    from ..store import Run, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did: the runs compared, each clause, and whether the alias moved."""

    function: str
    alias: str
    challenger: str  # run id
    version: str
    how: str  # why this run: "run", "newest", "best of sweep ID by max:METRIC"
    champion: str | None  # the run behind the alias before, if any
    gate: str | None
    clauses: list[dict[str, Any]] = field(default_factory=list)
    passed: bool = True
    moved: bool = False  # False: failed gate, or the alias pointed there already
    event: int | None = None  # the promote (or gate) event's id
    followers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "alias": self.alias,
            "challenger": self.challenger,
            "version": self.version,
            "how": self.how,
            "champion": self.champion,
            "gate": self.gate,
            "clauses": list(self.clauses),
            "passed": self.passed,
            "moved": self.moved,
            "event": self.event,
            "followers": list(self.followers),
        }


def champion_run(store: Store, function: str, alias: str) -> Run | None:
    """The run behind ``alias``: the one promoted with it, else the newest succeeded run of
    the version it points at (an alias moved by ``tag``, which names no run)."""
    target = store.alias_target(function, alias)
    if target is None:
        return None
    version, run_id = target
    if run_id is not None:
        return store.get_run(run_id)
    cursor = None
    for _ in range(20):  # the newest 1,000 succeeded runs of the function: plenty
        page = store.list_runs(function=function, status="succeeded", limit=50, cursor=cursor)
        for run in page.runs:
            if run.version == version:
                return run
        cursor = page.next_cursor
        if cursor is None:
            break
    return None


def champion_metrics(store: Store, function: str) -> Any:
    """The gate's view of an alias: that champion's metrics (None when it has no run)."""

    def metrics(alias: str) -> Mapping[str, float] | None:
        found = champion_run(store, function, alias)
        return None if found is None else found.metrics

    return metrics


def challenger_run(
    service: MLOps, plan: Plan, fn: Function, notebook_name: str, run: str | None
) -> tuple[Run, str]:
    """The run to promote, and why it (the deploy binding's rule, for the same answer)."""
    from ..serve.binding import producer_run

    store = service.store
    if run is not None:
        found = store.get_run(run)
        if found.status != "succeeded":
            raise MLOpsError(f"run {found.id[:12]} is {found.status}, not succeeded")
        if found.function not in (None, fn.name) or found.notebook != notebook_name:
            raise MLOpsError(
                f"run {found.id[:12]} ran {found.function or 'the whole notebook'} of "
                f"{found.notebook!r}, not {fn.name!r} of {notebook_name!r}"
            )
        return found, "run"
    if fn.outputs:  # the run that produced its outputs, as a deployment would bind
        return producer_run(store, fn, list(fn.outputs), notebook_name, None)
    page = store.list_runs(notebook=notebook_name, function=fn.name, status="succeeded", limit=1)
    if not page.runs:
        raise NotFoundError(
            f"no succeeded run of {fn.name!r}",
            notebook=notebook_name,
            hint=f"run it first: jupyter mlops run {notebook_name} --function {fn.name}",
        )
    return page.runs[0], "newest"


def promote(
    service: MLOps,
    notebook: str | os.PathLike[str],
    function: str,
    *,
    to: str,
    gate: str | None = None,
    run: str | None = None,
    actor: str | None = None,
    refs: Mapping[str, Any] | None = None,
    content: Mapping[str, Any] | None = None,
) -> Promotion:
    """Move ``to`` onto the challenger when ``gate`` passes (no gate: always)."""
    from ..deploy.follow import reconcile_followers
    from ..execute.params import check_alias
    from ..notebook.reader import read_notebook

    check_alias(to)
    clauses = gates.parse(gate) if gate else []  # a bad gate fails before anything runs
    path, notebook_name, _ = service._locate(notebook, content)
    source = read_notebook(content if content is not None else path, name=notebook_name)
    plan = service.inspect(source, name=notebook_name)
    fn = plan.function(function)
    challenger, how = challenger_run(service, plan, fn, notebook_name, run)
    version = challenger.version if challenger.function == fn.name else None
    version = version or fn.version
    code = "\n\n".join(cell.source for cell in fn.cells)
    store = service.store
    if version == fn.version:
        store.register_version(fn.name, fn.version, notebook=notebook_name, code=code)
    before = champion_run(store, fn.name, to)
    judged = gates.evaluate(clauses, challenger.metrics, champion_metrics(store, fn.name))
    passed = all(clause["passed"] for clause in judged)
    common = {"run_id": challenger.id, "champion": before.id if before else None, **(refs or {})}
    verdict = store.events.record(
        "gate",
        function=fn.name,
        refs={**common, "gate": gate, "alias": to, "passed": passed, "clauses": judged},
        message=_summary(gate, judged, passed),
        actor=actor,
    )
    result = Promotion(
        function=fn.name,
        alias=to,
        challenger=challenger.id,
        version=version,
        how=how,
        champion=before.id if before else None,
        gate=gate,
        clauses=judged,
        passed=passed,
        event=verdict.id,
    )
    if not passed:
        return result
    event = store.events.move_alias(
        fn.name,
        version,
        to,
        refs={**common, "gate_event": verdict.id},
        message=f"{to} -> run {challenger.id[:12]} ({how})",
        actor=actor,
        run_id=challenger.id,
    )
    moved = event.refs.get("alias_history") is not None
    followers = []
    if moved:
        for outcome in reconcile_followers(service):
            followers.append(
                {
                    "deployment": outcome.name,
                    "version": outcome.version,
                    "run": outcome.run,
                    "ok": outcome.ok,
                    "error": outcome.error,
                }
            )
            store.events.record(
                "redeploy",
                deployment=outcome.name,
                function=fn.name,
                refs={
                    "promote_event": event.id,
                    "version": outcome.version,
                    "run_id": outcome.run,
                    "ok": outcome.ok,
                },
                message=outcome.error or f"follows {to}: now run {str(outcome.run)[:12]}",
                actor=actor,
            )
    return Promotion(
        **{**result.__dict__, "moved": moved, "event": event.id, "followers": followers}
    )


def _summary(gate: str | None, judged: list[dict[str, Any]], passed: bool) -> str:
    if not judged:
        return "no gate: promoted as asked"
    parts = [describe_clause(clause) for clause in judged]
    return ("passed: " if passed else "failed: ") + "; ".join(parts)


def describe_clause(clause: dict[str, Any]) -> str:
    """``accuracy 0.91 >= 0.89 ok`` or with the note that decided it."""
    left = "missing" if clause["left"] is None else f"{clause['left']:.6g}"
    right = "-" if clause["right"] is None else f"{clause['right']:.6g}"
    mark = "ok" if clause["passed"] else "FAILED"
    note = f" ({clause['note']})" if clause.get("note") else ""
    return f"{clause['metric']} {left} {clause['op']} {right} {mark}{note}"

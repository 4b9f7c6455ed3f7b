"""``jupyter mlops ci run``: what a pull request's pipeline checks in a notebook.

1. **Strict plan**: the notebook converts to each target without a warning (the same check
   as ``convert --strict``, one rule), else nothing runs.
2. **Smoke run**: when a function's version differs from the one behind ``against``
   (``production``; every function when the alias is not set), the notebook runs once, tracked,
   on its CI parameters: each parameter's ``[ci: VALUE]`` in its comment (``[NAME: VALUE]``
   with ``--parameters-profile NAME``), then ``-p`` values.
   Functions need their upstream outputs, so the whole notebook runs; the changed functions
   are named. Nothing changed: no run, nothing to judge.
3. **Gates**: each ``--gate`` (``loop/gate.py``) on the run's metrics, an alias on the right
   being the champion of the function that records that metric.
4. **Report**: a Markdown summary (versions, metrics beside the champion's, each clause) for a
   pull-request comment or a job summary.

Each failure has its own exit code (``EXIT_CODES``), so a pipeline can tell them apart.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConvertError, ParameterError, StrictConvertError
from ..loop import gate as gates
from ..loop.promotion import champion_run, describe_clause

if TYPE_CHECKING:
    from ..notebook.plan import Plan
    from ..service import MLOps

# What ``ci run`` exits with; 2 stays the CLI's own (a usage mistake, a missing notebook).
EXIT_CODES = {"passed": 0, "plan": 3, "run": 4, "gate": 5}
DEFAULT_PROFILE = "ci"


@dataclass
class CIReport:
    """What ``ci run`` found, step by step; ``outcome`` is the first step that failed."""

    notebook: str
    against: str
    outcome: str = "passed"
    warnings: list[str] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)  # function, version, alias'
    parameters: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] | None = None  # id, status, metrics, error
    champion: dict[str, Any] | None = None  # id, metrics (of the metrics' function)
    clauses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        return [entry["function"] for entry in self.versions if entry["changed"]]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "against": self.against,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "warnings": list(self.warnings),
            "versions": list(self.versions),
            "changed": self.changed,
            "parameters": dict(self.parameters),
            "run": self.run,
            "champion": self.champion,
            "clauses": list(self.clauses),
        }


def ci_parameters(
    plan: Plan, given: Mapping[str, str], profile: str | None = None
) -> dict[str, Any]:
    """The CI values: ``[PROFILE: VALUE]`` in a parameter's comment (``[ci: VALUE]`` by
    default), then ``given`` (``-p``). A profile named but found on no parameter is an
    error: a misspelt name would otherwise run on the full defaults."""
    name = profile or DEFAULT_PROFILE
    pattern = re.compile(rf"\[{re.escape(name)}:\s*([^\]]*)\]")
    values: dict[str, Any] = {}
    for parameter in plan.parameters:
        found = pattern.search(parameter.help or "")
        if found is not None:
            where = f"parameter {parameter.name!r} [{name}: …] in its comment"
            try:
                values[parameter.name] = parameter.type.parse_text(
                    found.group(1).strip(), where=where
                )
            except ValueError as err:
                raise ParameterError(str(err), parameter=parameter.name) from None
    if profile is not None and not values:
        raise ParameterError(
            f"no parameter has a [{profile}: VALUE] in its comment (--parameters-profile)",
            notebook=plan.notebook,
        )
    known = {parameter.name for parameter in plan.parameters}
    for name, text in given.items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ParameterError(f"unknown parameter {name!r} (parameters: {listed})")
        try:
            values[name] = plan.parameter(name).type.parse_text(text, where=f"parameter {name!r}")
        except ValueError as err:
            raise ParameterError(str(err), parameter=name) from None
    return values


def ci_run(
    service: MLOps,
    notebook: str | os.PathLike[str],
    *,
    parameters: Mapping[str, str] | None = None,
    gates_given: Sequence[str] = (),
    against: str = "production",
    targets: Sequence[str] = ("python",),
    profile: str | None = None,
) -> CIReport:
    """Check ``notebook`` as a pull request's pipeline would (see the module docstring)."""
    clauses = [clause for text in gates_given for clause in gates.parse(text)]  # fail early
    plan = service.inspect(notebook)
    report = CIReport(notebook=plan.notebook, against=against)
    report.parameters = ci_parameters(plan, parameters or {}, profile)
    for target in targets:
        with tempfile.TemporaryDirectory(prefix="mlops-ci-") as folder:
            try:
                service.convert(plan, target, Path(folder) / "out", strict=True)
            except StrictConvertError as err:
                report.warnings += [f"{target}: {w}" for w in err.warnings] or [str(err)]
            except ConvertError as err:  # a plan the target cannot express at all fails too
                report.warnings.append(f"{target}: {err}")
    if report.warnings:
        report.outcome = "plan"
        return report
    store = service.store
    for fn in plan.functions:
        behind = store.alias_target(fn.name, against)
        report.versions.append(
            {
                "function": fn.name,
                "version": fn.version,
                "against": behind[0] if behind else None,
                "changed": behind is None or behind[0] != fn.version,
            }
        )
    if not report.changed:
        return report
    run = service.run(notebook, parameters=report.parameters, actor="ci")
    report.run = {
        "id": run.id,
        "status": run.status,
        "metrics": dict(run.metrics),
        "error": run.error,
    }
    if run.status != "succeeded":
        report.outcome = "run"
        return report
    owner = _metrics_function(plan)
    if owner is not None:
        champion = champion_run(store, owner, against)
        if champion is not None:
            report.champion = {"id": champion.id, "function": owner, "metrics": champion.metrics}
    if report.champion is not None:  # a metric another function records: from its champion
        theirs = dict(report.champion["metrics"])
        for declared in plan.metrics:
            if declared.name not in theirs and declared.function not in (None, owner):
                other = champion_run(store, declared.function, against)
                if other is not None and declared.name in other.metrics:
                    theirs[declared.name] = other.metrics[declared.name]
        report.champion["metrics"] = theirs
    # Each clause against the champion of the function that records its metric: a gate on
    # a metric of a later function must not read the first one's champion (which lacks it,
    # so the clause would pass unjudged).
    report.clauses = [
        result
        for clause in clauses
        for result in gates.evaluate(
            [clause], run.metrics, _champions(service, _metric_owner(plan, clause.metric))
        )
    ]
    if not all(clause["passed"] for clause in report.clauses):
        report.outcome = "gate"
    return report


def _metrics_function(plan: Plan) -> str | None:
    """The function whose metrics a gate judges: the first that records any."""
    return plan.metrics[0].function if plan.metrics and plan.metrics[0].function else None


def _metric_owner(plan: Plan, metric: str) -> str | None:
    """The function that records ``metric`` (else the first that records any)."""
    for declared in plan.metrics:
        if declared.name == metric and declared.function:
            return declared.function
    return _metrics_function(plan)


def _champions(service: MLOps, owner: str | None) -> Any:

    def metrics(alias: str) -> Mapping[str, float] | None:
        if owner is None:
            return None
        found = champion_run(service.store, owner, alias)
        return None if found is None else found.metrics

    return metrics


def markdown(report: CIReport) -> str:
    """The report as Markdown: for a pull-request comment or ``$GITHUB_STEP_SUMMARY``."""
    mark = {"passed": "passed", "plan": "plan warnings", "run": "run failed", "gate": "gate failed"}
    lines = [f"### jupyter-mlops CI: `{report.notebook}`: {mark[report.outcome]}", ""]
    if report.warnings:
        lines += ["Converting warned (fix these, or the code is not what runs):", ""]
        lines += [f"- {warning}" for warning in report.warnings]
        return "\n".join(lines) + "\n"
    lines += [f"| function | version | {report.against} | changed |", "|---|---|---|---|"]
    for entry in report.versions:
        behind = entry["against"][:12] if entry["against"] else "(not set)"
        changed = "yes" if entry["changed"] else ""
        lines.append(f"| {entry['function']} | {entry['version'][:12]} | {behind} | {changed} |")
    lines.append("")
    if report.run is None:
        lines.append(f"Nothing changed since `{report.against}`: no run.")
        return "\n".join(lines) + "\n"
    shown = ", ".join(f"{k}={v!r}" for k, v in report.parameters.items()) or "the defaults"
    lines.append(f"Run `{report.run['id'][:12]}` on {shown}: **{report.run['status']}**")
    if report.run["error"]:
        error = report.run["error"]
        where = f"cell {error['cell']}: " if error.get("cell") is not None else ""
        text = f"{where}{error.get('ename', 'error')}: {error.get('evalue', '')}"
        lines.append(f"\n`{text[:600]}`")
    champion = report.champion or {}
    theirs: dict[str, float] = champion.get("metrics", {})
    if report.run["metrics"]:
        title = f"{report.against} (run {champion['id'][:12]})" if champion else report.against
        lines += ["", f"| metric | this change | {title} | difference |", "|---|---|---|---|"]
        for name, value in sorted(report.run["metrics"].items()):
            other = theirs.get(name)
            diff = f"{value - other:+.4g}" if other is not None else ""
            shown_other = f"{other:.4g}" if other is not None else ""
            lines.append(f"| {name} | {value:.4g} | {shown_other} | {diff} |")
    if report.clauses:
        lines += ["", "Gates:", ""]
        for clause in report.clauses:
            lines.append(f"- {'✅' if clause['passed'] else '❌'} {describe_clause(clause)}")
    return "\n".join(lines) + "\n"

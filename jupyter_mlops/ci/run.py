"""``ci run``: what a pull request must pass before its notebook is merged.

1. the strict plan check: any warning ``inspect`` or the python conversion reports fails
   (the rule ``convert --strict`` applies: the same function, nothing written);
2. the functions whose version differs from the one behind the ``against`` alias (every
   function when the alias is not set) run, tracked as any run, on small CI parameters;
3. the gates are checked (``loop/gate.py``) against the champion: the run behind the alias,
   else the newest succeeded run of the alias's version.

Each failure has its own exit code, so a CI log says which step failed without reading it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConvertError, StrictConvertError
from ..loop.gate import Clause, evaluate, parse
from ..notebook.reader import read_notebook
from ..paths import locate_notebook
from .profile import ProfileError, profiles

if TYPE_CHECKING:
    from ..notebook.plan import Function, Plan
    from ..notebook.reader import NotebookSource
    from ..service import MLOps
    from ..store.records import Run

log = logging.getLogger(__name__)

EXIT_PASSED = 0
EXIT_USAGE = 2  # as every command's user error: a bad option, gate, profile or notebook
EXIT_PLAN = 3  # the strict plan check reported warnings
EXIT_RUN = 4  # a changed function's run failed
EXIT_GATE = 5  # a gate did not pass
DEFAULT_PROFILE = "ci"


@dataclass
class FunctionCheck:
    """One function of the notebook: changed or not, its run, its champion, its gates."""

    function: str
    version: str
    champion_version: str | None = None
    champion_run: str | None = None
    champion_metrics: dict[str, float] = field(default_factory=dict)
    run: Run | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why a changed function did not run

    @property
    def changed(self) -> bool:
        return self.champion_version != self.version

    @property
    def failed(self) -> bool:
        return self.run is not None and self.run.status != "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "version": self.version,
            "changed": self.changed,
            "champion": {
                "version": self.champion_version,
                "run_id": self.champion_run,
                "metrics": dict(self.champion_metrics),
            },
            "run": None
            if self.run is None
            else {
                "id": self.run.id,
                "status": self.run.status,
                "metrics": dict(self.run.metrics),
                "error": self.run.error,
            },
            "gates": list(self.gates),
            "skipped": self.skipped,
        }


@dataclass
class CiReport:
    notebook: str
    against: str
    profile: str | None
    parameters: dict[str, str]
    gate: str | None
    warnings: list[str] = field(default_factory=list)
    checks: list[FunctionCheck] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.warnings:
            return EXIT_PLAN
        if any(check.failed or check.skipped for check in self.checks):
            return EXIT_RUN
        if any(not gate["passed"] for check in self.checks for gate in check.gates):
            return EXIT_GATE
        return EXIT_PASSED

    @property
    def outcome(self) -> str:
        return {
            EXIT_PASSED: "passed",
            EXIT_PLAN: "plan check failed",
            EXIT_RUN: "run failed",
            EXIT_GATE: "gate failed",
        }[self.exit_code]

    @property
    def ran(self) -> list[FunctionCheck]:
        return [check for check in self.checks if check.run is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "against": self.against,
            "profile": self.profile,
            "parameters": dict(self.parameters),
            "gate": self.gate,
            "warnings": list(self.warnings),
            "functions": [check.to_dict() for check in self.checks],
        }


def ci_run(
    service: MLOps,
    notebook: str,
    *,
    parameters: Mapping[str, str] | None = None,
    profile: str | None = None,
    gate: str | None = None,
    against: str = "production",
) -> CiReport:
    """Check, run and gate ``notebook``; MLOpsError for a usage error (before any run)."""
    clauses = parse(gate) if gate else []  # a bad gate fails before anything runs
    path, name, _ = locate_notebook(service.root_dir, notebook, None)
    source = read_notebook(path, name=name)
    plan = service.inspect(source)
    chosen, values = _parameters(source, plan, profile, parameters or {})
    report = CiReport(plan.notebook, against, chosen, values, gate)
    report.warnings = _strict_warnings(service, plan)
    if report.warnings:
        return report  # no run: the plan is what the runs would execute
    if values:  # checked as a run checks them, so a bad profile value is a usage error
        service.check(notebook, values, as_text=True)
    failed: set[str] = set()
    for function in plan.functions:  # in run order: a producer runs before its consumers
        check = _champion(service, function, against)
        report.checks.append(check)
        if not check.changed:
            log.info("ci: %s unchanged (%s is %s)", function.name, against, function.version[:12])
            continue
        broken = sorted(failed & (set(function.sources.values()) | set(function.after)))
        if broken:  # it would read stale outputs of an older run of its producer
            failed.add(function.name)
            check.skipped = f"not run: {', '.join(broken)} failed"
            continue
        check.run = service.run(notebook, function=function.name, parameters=values, as_text=True)
        if check.failed:
            failed.add(function.name)
        if not check.failed and clauses:
            check.gates = _gates(service, function, check, clauses)
    return report


def _parameters(
    source: NotebookSource, plan: Plan, profile: str | None, given: Mapping[str, str]
) -> tuple[str | None, dict[str, str]]:
    """The profile's values (``ci`` when the notebook has one), then the ``-p`` values."""
    found = profiles(source, plan)
    if profile is not None and profile not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ProfileError(
            f"no parameters profile {profile!r} (profiles: {known}); write one in the "
            f"parameters cell as '# mlops:profile:{profile} NAME=VALUE, …'",
            notebook=plan.notebook,
        )
    chosen = profile or (DEFAULT_PROFILE if DEFAULT_PROFILE in found else None)
    values = dict(found.get(chosen, {})) if chosen else {}
    values.update(given)
    return chosen, values


def _strict_warnings(service: MLOps, plan: Plan) -> list[str]:
    """What ``convert --strict --to python`` refuses for (the same check, nothing kept); a
    plan no conversion can express (a star import inside a function) fails it too."""
    with tempfile.TemporaryDirectory(prefix="mlops-ci-") as scratch:
        try:
            service.convert(plan, "python", scratch, strict=True)
        except StrictConvertError as err:
            return list(err.warnings)
        except ConvertError as err:
            return [str(err)]
    return []


def _champion(service: MLOps, function: Function, alias: str) -> FunctionCheck:
    check = FunctionCheck(function.name, function.version)
    target = service.store.alias_target(function.name, alias)
    if target is None:
        return check
    check.champion_version, check.champion_run = target
    champion = champion_run(service, function.name, *target)
    if champion is not None:
        check.champion_run = champion.id
        check.champion_metrics = dict(champion.metrics)
    return check


def champion_run(service: MLOps, function: str, version: str, run_id: str | None) -> Run | None:
    """The run behind an alias: the one it was promoted with, else the newest succeeded run
    of its version (None when that version never succeeded here)."""
    if run_id is not None:
        return service.store.get_run(run_id)
    cursor = None
    while True:
        page = service.store.list_runs(
            function=function, status="succeeded", limit=200, cursor=cursor
        )
        for run in page.runs:
            if run.version == version:
                return run
        cursor = page.next_cursor
        if cursor is None:
            return None


def _gates(
    service: MLOps, function: Function, check: FunctionCheck, clauses: list[Clause]
) -> list[dict[str, Any]]:
    """The clauses about the metrics this function records (a gate on ``accuracy`` does not
    apply to the function that prepares the data)."""
    assert check.run is not None
    recorded = set(function.metrics) | set(check.run.metrics)
    mine = [clause for clause in clauses if clause.metric in recorded]

    def champion(alias: str) -> dict[str, float] | None:
        target = service.store.alias_target(function.name, alias)
        run = champion_run(service, function.name, *target) if target else None
        return dict(run.metrics) if run is not None else None

    results = evaluate(mine, dict(check.run.metrics), champion)
    return [{"clause": _clause_text(c), **r} for c, r in zip(mine, results, strict=True)]


def _clause_text(clause: Clause) -> str:
    """The clause as written (normalized), for the report."""
    if clause.alias is None:
        return f"{clause.metric} {clause.op} {clause.number:g}"
    delta = f" {'-' if clause.delta < 0 else '+'} {abs(clause.delta):g}" if clause.delta else ""
    return f"{clause.metric} {clause.op} {clause.alias}{delta}"

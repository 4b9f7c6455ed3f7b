"""The Markdown of a ``ci run``: for a pull-request comment or a job summary.

GitHub and GitLab render the same pipe tables; cells are escaped so that a metric or an
error message with ``|`` cannot break a row.
"""

from __future__ import annotations

import math

from .run import CiReport, FunctionCheck


def markdown(report: CiReport) -> str:
    """The summary line, the functions, the metrics beside the champion's, the gates."""
    lines = [f"### jupyter-mlops ci: `{report.notebook}` {report.outcome}", ""]
    profile = f"profile `{report.profile}`" if report.profile else "no profile"
    values = ", ".join(f"`{k}={v}`" for k, v in report.parameters.items()) or "defaults"
    lines.append(f"Parameters: {profile} ({values}). Compared with `{report.against}`.")
    lines.append("")
    if report.warnings:
        lines += ["**Strict plan check failed**: nothing ran.", ""]
        lines += [f"- {_text(warning)}" for warning in report.warnings]
        return "\n".join(lines) + "\n"
    lines += ["Strict plan check passed.", ""]
    lines += _functions(report)
    lines += _metrics(report)
    lines += _gates(report)
    return "\n".join(lines) + "\n"


def _functions(report: CiReport) -> list[str]:
    against = report.against
    lines = [f"| function | version | {against} | run | status |", "|---|---|---|---|---|"]
    for check in report.checks:
        champion = f"`{check.champion_version[:12]}`" if check.champion_version else "not set"
        if check.run is None:
            run, status = "", check.skipped or "unchanged: not run"
        else:
            run, status = f"`{check.run.id}`", check.run.status
            if check.failed and check.run.error:
                status += f": {_text(_error(check))}"
        lines.append(
            f"| {check.function} | `{check.version[:12]}` | {champion} | {run} | {status} |"
        )
    if not report.ran:
        lines += ["", f"No function changed since `{against}`: nothing ran."]
    return [*lines, ""]


def _metrics(report: CiReport) -> list[str]:
    rows = []
    for check in report.ran:
        assert check.run is not None
        for name in sorted(set(check.run.metrics) | set(check.champion_metrics)):
            mine = check.run.metrics.get(name)
            theirs = check.champion_metrics.get(name)
            delta = "" if mine is None or theirs is None else _number(mine - theirs, signed=True)
            rows.append(
                f"| {check.function} | {_text(name)} | {_number(mine)} | {_number(theirs)} "
                f"| {delta} |"
            )
    if not rows:
        return []
    header = f"| function | metric | this change | {report.against} | change |"
    return [header, "|---|---|---:|---:|---:|", *rows, ""]


def _gates(report: CiReport) -> list[str]:
    if not report.gate:
        return []
    rows = [
        f"| {check.function} | {_text(gate['clause'])} | {_number(gate['left'])} "
        f"| {_number(gate['right'])} | {'passed' if gate['passed'] else '**failed**'} "
        f"| {_text(gate['note'] or '')} |"
        for check in report.checks
        for gate in check.gates
    ]
    if not rows:
        checked = "no function that ran records its metrics" if report.ran else "nothing ran"
        return [f"Gate `{_text(report.gate)}` not checked: {checked}.", ""]
    header = f"Gate `{_text(report.gate)}`:"
    table = [
        "| function | clause | value | threshold | result | note |",
        "|---|---|---:|---:|---|---|",
    ]
    return [header, "", *table, *rows, ""]


def _error(check: FunctionCheck) -> str:
    error = check.run.error if check.run is not None else None
    if not error:
        return ""
    where = f"cell {error['cell']}: " if error.get("cell") is not None else ""
    return f"{where}{error.get('ename', 'error')}: {error.get('evalue', '')}"


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def _text(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")

"""Plain-text reports of plans, runs and versions: what the CLI prints, and the text/plain
of every ``%mlops`` result (the fallback where widgets cannot render).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .notebook.plan import PARAMETERS, Plan

if TYPE_CHECKING:
    from .convert.registry import ConvertResult
    from .execute.sweep import SweepResult
    from .project import Project
    from .store import AliasMove, Run, Version


def describe(plan: Plan) -> str:
    """A plan as a short report a person reads top to bottom."""
    lines = [plan.notebook, ""]
    if plan.parameters:
        lines.append("Parameters")
        width = max(len(f"{p.name}: {p.type} = {p.default!r}") for p in plan.parameters)
        for p in plan.parameters:
            declaration = f"{p.name}: {p.type} = {p.default!r}"
            lines.append(f"  {declaration:<{width}}  {p.help}".rstrip())
        lines.append("")
    if plan.setup:
        lines.append("Setup cells: " + ", ".join(str(c.index) for c in plan.setup))
        lines.append("")
    lines.append("Functions (in run order)")
    for f in plan.functions:
        lines.append(f"  {f.name}  cells {_ranges(f.cell_indices)}  version {f.version[:12]}")
        if f.parameters:
            lines.append(f"    parameters: {', '.join(f.parameters)}")
        for producer in dict.fromkeys(f.sources[n] for n in f.data_inputs):
            names = [n for n in f.data_inputs if f.sources[n] == producer]
            lines.append(f"    from {producer}: {', '.join(names)}")
        lines.append(f"    outputs: {', '.join(f.outputs) or '-'}")
        if f.after:
            lines.append(f"    after: {', '.join(f.after)}")
        if f.options:
            lines.append("    options: " + ", ".join(f"{k}={v}" for k, v in f.options.items()))
    if not plan.functions:
        lines.append("  (none)")
    if plan.metrics:
        lines += [
            "",
            "Metrics: "
            + ", ".join(
                f"{m.name} ({'parameter' if m.function == PARAMETERS else m.function})"
                for m in plan.metrics
            ),
        ]
    if plan.edges:
        lines += ["", "DAG"]
        lines += [
            f"  {e.source} -> {e.target}"
            + (f"  ({', '.join(e.names)})" if e.names else "  (after)")
            for e in plan.edges
        ]
    if plan.warnings:
        lines += ["", f"Warnings ({len(plan.warnings)})"]
        lines += [f"  {w}" for w in plan.warnings]
    return "\n".join(lines)


def _ranges(indices: list[int]) -> str:
    """[3, 4, 5, 8] -> '3-5, 8'."""
    parts: list[str] = []
    start = previous = None
    for index in [*indices, None]:
        if start is not None and (index is None or previous is None or index != previous + 1):
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if index is not None and start is None:
            start = index
        previous = index
    return ", ".join(parts)


def describe_run(run: Run) -> str:
    lines = [
        f"run {run.id}  {run.status}",
        f"  notebook: {run.notebook}" + (f"  function: {run.function}" if run.function else ""),
        f"  version: {(run.version or '-')[:12]}  duration: {_seconds(run.duration)}",
        f"  by: {run.actor or '-'}",
    ]
    if run.external_url:  # where it ran: its page on the system that executed it (KFP)
        lines.append(f"  {run.executor} run: {run.external_url}")
    if run.parameters:
        lines.append("  parameters: " + ", ".join(f"{k}={v!r}" for k, v in run.parameters.items()))
    if run.metrics:
        lines.append("  metrics: " + ", ".join(f"{k}={v:.6g}" for k, v in run.metrics.items()))
    for name, source in (run.inputs or {}).items():
        lines.append(f"  input {name}: {source.get('how')} run {str(source.get('run'))[:12]}")
    if run.error:
        where = f"cell {run.error['cell']}: " if run.error.get("cell") is not None else ""
        lines.append(f"  error: {where}{run.error['ename']}: {run.error['evalue']}")
    for artifact in run.artifacts:
        lines.append(f"  artifact {artifact.name} ({artifact.kind}, {artifact.size} bytes)")
    return "\n".join(lines)


def runs_table(
    runs: list[Run], *, best: str | None = None, parameters: list[str] | None = None
) -> str:
    if not runs:
        return "no runs"
    names = parameters or []
    metric_names = sorted({name for run in runs for name in run.metrics})
    header = ["", "run", "status", "function", "by", *names, *metric_names, "seconds"]
    rows = [header]
    for run in runs:
        rows.append(
            [
                "*" if run.id == best else "",
                run.id[:12],
                run.status,
                run.function or "(notebook)",
                run.actor or "-",
                *(repr(run.parameters.get(n)) for n in names),
                *(f"{run.metrics[m]:.4g}" if m in run.metrics else "-" for m in metric_names),
                _seconds(run.duration),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
        for row in rows
    ]
    if best:
        lines.append("* best run")
    return "\n".join(lines)


def versions_table(versions: list[Version]) -> str:
    if not versions:
        return "no versions recorded (run the notebook first)"
    lines = []
    for version in versions:
        aliases = f"  [{', '.join(version.aliases)}]" if version.aliases else ""
        lines.append(
            f"{version.version[:12]}  {version.created_at:%Y-%m-%d %H:%M}  "
            f"{version.run_count} runs  {version.notebook}{aliases}"
        )
    return "\n".join(lines)


def alias_history_text(moves: list[AliasMove]) -> str:
    """Every alias move, newest first, with who moved it."""
    if not moves:
        return ""
    lines = ["alias history"]
    for move in sorted(moves, key=lambda m: m.moved_at, reverse=True):
        was = f" (was {move.previous[:12]})" if move.previous else ""
        lines.append(
            f"  {move.moved_at:%Y-%m-%d %H:%M:%S}  {move.alias} -> {move.version[:12]}{was}"
            f"  by {move.actor or '-'}"
        )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def sweep_report(result: SweepResult) -> str:
    """A finished sweep: its head line and its runs, the best one starred."""
    best = result.best.id if result.best else None
    head = f"sweep {result.sweep.id[:12]}: {len(result.runs)} runs, {result.sweep.status}"
    return head + "\n" + runs_table(result.runs, best=best, parameters=list(result.sweep.space))


def convert_report(result: ConvertResult) -> str:
    lines = [f"wrote {path}" for path in result.files]
    lines += [f"warning: {warning}" for warning in result.warnings]
    return "\n".join(lines) or f"{result.target}: nothing written"


def config_report(project: Project, as_json: bool) -> dict[str, Any] | str:
    """``jupyter mlops config``: each setting, where it came from, the files searched."""
    from .project import CONFIG_NAME, config_paths

    searched = [str(folder / f"{CONFIG_NAME}{suffix}") for folder in config_paths()
                for suffix in (".py", ".json")]  # fmt: skip
    searched.append(str(Path(project.root_dir) / f"{CONFIG_NAME}.json"))
    settings = project.settings(masked=True)
    if as_json:
        return {
            "settings": settings,
            "files": list(project.files),
            "searched": searched,
            "warnings": list(project.warnings),
        }
    width = max(len(key) for key in settings)
    lines = ["Settings (value, then where it comes from)"]
    for key, entry in settings.items():
        lines.append(f"  {key:<{width}}  {entry['value']}")
        lines.append(f"  {'':<{width}}    from {entry['source']}")
    lines += ["", "Files read (later ones win)"]
    lines += [f"  {path}" for path in project.files] or ["  none"]
    lines += ["", "Searched, lowest precedence first (then --root, server or kernel c.MLOps)"]
    lines += [f"  {path}" for path in searched]
    return "\n".join(lines)

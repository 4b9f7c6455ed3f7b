"""What ``%mlops`` shows: ipywidgets in a kernel, plain text everywhere else.

Every result is published as one MIME bundle that carries three forms, so it reads well
wherever the notebook ends up::

    application/vnd.jupyter.widget-view+json   JupyterLab / Notebook with ipywidgets: a live view
    text/html                                  nbconvert, GitHub, a frontend without ipywidgets
    text/plain                                 the same report the CLI prints (terminal, logs)

In a process without a kernel (plain ``ipython`` in a terminal) no widget is created and only
the text is shown; progress goes to stderr as one line that rewrites itself. Configure
``c.MLOpsMagics.widgets = False`` to get the text-only form in a kernel too.

The results are registered as IPython formatters for the core types (Plan, Run, Version,
SweepResult, ConvertResult) and for the small result lists below, so ``r = %mlops run train``
keeps the Run itself and ``r`` on its own line shows it the same way.

Widget updates are comm messages; ipykernel sends them through its IOPub thread at once,
from whichever thread sets the value, so a progress bar moves while the cell still runs.
Display messages (``display``, ``update_display``) are only sent from the kernel's main
thread: they are matched to the running cell through that thread's parent message.
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import reports

if TYPE_CHECKING:
    from .execute.sweep import Selector, SweepResult
    from .notebook.plan import Plan
    from .store import Run, Version

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_STATUS_STYLE = {"succeeded": "success", "failed": "danger", "cancelled": "warning"}
_STATUS_COLOUR = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#ef6c00",
    "interrupted": "#ef6c00",
    "running": "#1565c0",
    "queued": "#616161",
}


class RunList(list["Run"]):
    """Runs as ``%mlops runs`` returns them: a list, shown as a table."""


class VersionList(list["Version"]):
    """Versions of one function, newest first, shown as a table."""

    def __init__(self, function: str, versions: Iterable[Version]) -> None:
        super().__init__(versions)
        self.function = function


@dataclass
class VersionDiff:
    """Two versions of a function and the unified diff of their code."""

    function: str
    old: Version
    new: Version
    diff: str


# -- text and HTML of each result ------------------------------------------------------------


def text_of(value: Any) -> str:
    """The plain-text report of a result (what the CLI would print)."""
    from .convert.registry import ConvertResult
    from .execute.sweep import SweepResult
    from .notebook.plan import Plan
    from .store import Version

    if isinstance(value, Plan):
        return reports.describe(value)
    if isinstance(value, SweepResult):
        return reports.sweep_report(value)
    if isinstance(value, RunList):
        return reports.runs_table(list(value))
    if isinstance(value, VersionList):
        return f"{value.function}\n{reports.versions_table(list(value))}"
    if isinstance(value, VersionDiff):
        return value.diff or f"{value.function}: the two versions have the same code"
    if isinstance(value, ConvertResult):
        return reports.convert_report(value)
    if isinstance(value, Version):
        return reports.versions_table([value])
    return reports.describe_run(value)


def html_of(value: Any) -> str:
    """The same report as an HTML fragment; every user-given text is escaped."""
    from .convert.registry import ConvertResult
    from .execute.sweep import SweepResult
    from .notebook.plan import Plan
    from .store import Version

    if isinstance(value, Plan):
        return _plan_html(value)
    if isinstance(value, SweepResult):
        head = (
            f"<b>sweep {_e(value.sweep.id[:12])}</b>: {len(value.runs)} runs, "
            f"{_status(value.sweep.status)}"
        )
        best = value.best.id if value.best else None
        return head + runs_html(value.runs, best=best, parameters=list(value.sweep.space))
    if isinstance(value, RunList):
        return runs_html(list(value))
    if isinstance(value, VersionList):
        return f"<b>{_e(value.function)}</b>" + _versions_html(list(value))
    if isinstance(value, VersionDiff):
        return _diff_html(value)
    if isinstance(value, ConvertResult):
        return _pre(reports.convert_report(value))
    if isinstance(value, Version):
        return _versions_html([value])
    return _run_html(value)


def runs_html(
    runs: list[Run], *, best: str | None = None, parameters: list[str] | None = None
) -> str:
    if not runs:
        return "<p>no runs</p>"
    names = parameters or []
    metrics = sorted({name for run in runs for name in run.metrics})
    header = ["", "run", "status", "function", *names, *metrics, "seconds"]
    rows = []
    for run in runs:
        cells = [
            "★" if run.id == best else "",
            f"<code>{_e(run.id[:12])}</code>",
            _status(run.status),
            _e(run.function or "(notebook)"),
            *(_e(repr(run.parameters.get(name))) for name in names),
            *(f"{run.metrics[m]:.4g}" if m in run.metrics else "-" for m in metrics),
            "-" if run.duration is None else f"{run.duration:.2f}",
        ]
        rows.append(cells)
    return _table(header, rows)


def _run_html(run: Run) -> str:
    parts = [
        f"<b>run <code>{_e(run.id)}</code></b> {_status(run.status)}",
        f"<br>notebook {_e(run.notebook)}"
        + (f" · function <b>{_e(run.function)}</b>" if run.function else "")
        + f" · version <code>{_e((run.version or '-')[:12])}</code>"
        + ("" if run.duration is None else f" · {run.duration:.2f} s"),
    ]
    if run.parameters:
        parts.append(
            _table(
                ["parameter", "value"], [[_e(k), _e(repr(v))] for k, v in run.parameters.items()]
            )
        )
    if run.metrics:
        parts.append(
            _table(["metric", "value"], [[_e(k), f"{v:.6g}"] for k, v in run.metrics.items()])
        )
    if run.error:
        where = f"cell {run.error['cell']}: " if run.error.get("cell") is not None else ""
        parts.append(
            f"<pre style='color:#c62828'>{_e(where)}{_e(str(run.error.get('ename')))}: "
            f"{_e(str(run.error.get('evalue')))}</pre>"
        )
    if run.artifacts:
        parts.append(
            _table(
                ["artifact", "kind", "bytes"],
                [[_e(a.name), _e(a.kind), str(a.size)] for a in run.artifacts],
            )
        )
    return "".join(parts)


def _versions_html(versions: list[Version]) -> str:
    if not versions:
        return "<p>no versions recorded (run the notebook first)</p>"
    rows = [
        [
            f"<code>{_e(v.version[:12])}</code>",
            f"{v.created_at:%Y-%m-%d %H:%M}",
            str(v.run_count),
            _e(v.notebook),
            _e(", ".join(v.aliases)),
        ]
        for v in versions
    ]
    return _table(["version", "created", "runs", "notebook", "aliases"], rows)


def _plan_html(plan: Plan) -> str:
    parts = [f"<b>{_e(plan.notebook)}</b>"]
    if plan.parameters:
        rows = [
            [_e(p.name), _e(str(p.type)), _e(repr(p.default)), _e(p.help)] for p in plan.parameters
        ]
        parts.append(_table(["parameter", "type", "default", "help"], rows))
    rows = [
        [
            f"<b>{_e(f.name)}</b>",
            _e(", ".join(str(i) for i in f.cell_indices)),
            _e(", ".join(f.parameters) or "-"),
            _e(", ".join(f"{n} ← {f.sources[n]}" for n in f.data_inputs) or "-"),
            _e(", ".join(f.outputs) or "-"),
            f"<code>{_e(f.version[:12])}</code>",
        ]
        for f in plan.functions
    ]
    parts.append(_table(["function", "cells", "parameters", "inputs", "outputs", "version"], rows))
    if plan.metrics:
        parts.append("<p>metrics: " + _e(", ".join(m.name for m in plan.metrics)) + "</p>")
    if plan.warnings:
        items = "".join(f"<li>{_e(_where(w.cell))}: {_e(w.message)}</li>" for w in plan.warnings)
        parts.append(f"<p>warnings</p><ul>{items}</ul>")
    return "".join(parts)


def _diff_html(value: VersionDiff) -> str:
    if not value.diff:
        return f"<p>{_e(value.function)}: the two versions have the same code</p>"
    colours = {"+": "#e6ffed", "-": "#ffeef0", "@": "#f1f8ff"}
    lines = []
    for line in value.diff.splitlines():
        colour = "" if line.startswith(("+++", "---")) else colours.get(line[:1], "")
        style = f" style='background:{colour}'" if colour else ""
        lines.append(f"<div{style}>{_e(line) or '&nbsp;'}</div>")
    return (
        "<div style='font-family:var(--jp-code-font-family,monospace);white-space:pre'>"
        + "".join(lines)
        + "</div>"
    )


def _where(cell: int | None) -> str:
    return "notebook" if cell is None else f"cell {cell}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; the cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th style='text-align:left'>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status(status: str) -> str:
    colour = _STATUS_COLOUR.get(status, "#616161")
    return f"<span style='color:{colour};font-weight:bold'>{_e(status)}</span>"


def _pre(text: str) -> str:
    return f"<pre>{_e(text)}</pre>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


# -- bundles and formatters ------------------------------------------------------------------


def bundle(text: str, markup: str | None, widget: Any | None) -> dict[str, Any]:
    """One MIME bundle: the widget's view (if any), the HTML (if any) and the text."""
    data: dict[str, Any] = {"text/plain": text}
    if markup is not None:
        data["text/html"] = markup
    if widget is not None:
        data[WIDGET_VIEW] = widget._repr_mimebundle_()[WIDGET_VIEW]
    return data


def result_bundle(value: Any) -> dict[str, Any]:
    """A result as a bundle with an HTML widget: what a kernel with a frontend shows."""
    import ipywidgets

    markup = html_of(value)
    return bundle(text_of(value), markup, ipywidgets.HTML(value=markup))


def result_types() -> list[type]:
    from .convert.registry import ConvertResult
    from .execute.sweep import SweepResult
    from .notebook.plan import Plan
    from .store import Run, Version

    return [Plan, Run, Version, SweepResult, ConvertResult, RunList, VersionList, VersionDiff]


def register_formatters(shell: Any, *, widgets: bool) -> None:
    """Show the results through IPython's display machinery (Out[] and ``display()``)."""
    formatter = shell.display_formatter
    for kind in result_types():
        formatter.formatters["text/plain"].for_type(kind, _pretty)
        if widgets:
            formatter.mimebundle_formatter.for_type(kind, result_bundle)


def unregister_formatters(shell: Any) -> None:
    formatter = shell.display_formatter
    for kind in result_types():
        for each in (formatter.formatters["text/plain"], formatter.mimebundle_formatter):
            with contextlib.suppress(KeyError):
                each.pop(kind)


def _pretty(value: Any, printer: Any, cycle: bool) -> None:
    printer.text(text_of(value))


# -- progress --------------------------------------------------------------------------------


class Progress:
    """A bar and a line of text: an IntProgress and a Label in a kernel, stderr elsewhere.

    ``update`` may be called from any thread (sweep workers call it); ``show`` and ``finish``
    from the main thread, which publishes the display and its final text/plain form.
    """

    def __init__(self, total: int, text: str, *, widgets: bool) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.text = text
        self._lock = threading.Lock()
        self._widgets = widgets
        self._bar: Any = None
        self._label: Any = None
        self._box: Any = None
        self._handle: Any = None

    def show(self) -> None:
        if self._widgets:
            import ipywidgets
            from IPython.display import display

            self._bar = ipywidgets.IntProgress(
                value=0, min=0, max=self.total, bar_style="info", description=""
            )
            self._label = ipywidgets.Label(value=self.text)
            self._box = ipywidgets.HBox([self._bar, self._label])
            self._handle = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._write()

    def update(self, done: int | None = None, text: str | None = None) -> None:
        with self._lock:
            if done is not None:
                self.done = min(done, self.total)
            if text is not None:
                self.text = text
            if self._widgets:
                if self._bar is not None:
                    self._bar.value = self.done
                    self._label.value = self.text
            else:
                self._write()

    def finish(self, text: str, *, status: str) -> None:
        with self._lock:
            self.done = self.total
            self.text = text
            if self._widgets and self._bar is not None:
                self._bar.value = self.total
                self._bar.bar_style = _STATUS_STYLE.get(status, "warning")
                self._label.value = text
                self._handle.update(self._bundle(), raw=True)
            elif not self._widgets:
                self._write(end="\n")

    def _bundle(self) -> dict[str, Any]:
        return bundle(self._line(), f"<pre>{_e(self._line())}</pre>", self._box)

    def _line(self) -> str:
        width = 24
        filled = width * self.done // self.total
        return f"[{'#' * filled}{'-' * (width - filled)}] {self.text}"

    def _write(self, end: str = "") -> None:
        stream = sys.stderr
        if stream.isatty():
            stream.write("\r\x1b[2K" + self._line() + end)
        else:
            stream.write(self._line() + "\n")
        stream.flush()


class RunProgress:
    """The progress of one run: started, still running (with the time), finished."""

    def __init__(self, what: str, *, widgets: bool) -> None:
        self.what = what
        self.progress = Progress(1, f"{what}: queued", widgets=widgets)
        self._started: float | None = None
        self._widgets = widgets

    def show(self) -> None:
        self.progress.show()

    def started(self, run: Run) -> None:
        self._started = time.monotonic()
        self.progress.update(text=f"{self.what}: running (run {run.id[:12]})")

    def tick(self) -> None:
        if self._started is not None and self._widgets:  # the terminal line stays quiet
            elapsed = time.monotonic() - self._started
            self.progress.update(text=f"{self.what}: running {elapsed:.0f} s")

    def finish(self, run: Run) -> None:
        seconds = "" if run.duration is None else f" in {run.duration:.2f} s"
        text = f"{self.what}: run {run.id[:12]} {run.status}{seconds}"
        if run.error:
            where = f"cell {run.error['cell']}: " if run.error.get("cell") is not None else ""
            text += f" ({where}{run.error.get('ename')}: {run.error.get('evalue')})"
        self.progress.finish(text, status=run.status)


class SweepProgress:
    """The progress of a sweep: runs done of the total, failures, the best run so far."""

    def __init__(self, what: str, total: int, select: Selector | None, *, widgets: bool) -> None:
        self.what = what
        self.select = select
        self.runs: list[Run] = []
        self.progress = Progress(total, f"{what}: 0/{total} runs", widgets=widgets)

    def show(self) -> None:
        self.progress.show()

    def update(self, done: int, total: int, run: Run) -> None:
        self.runs.append(run)
        self.progress.update(done, self._text(done, total))

    def finish(self, result: SweepResult) -> None:
        total = len(result.runs)
        self.runs = list(result.runs)
        text = self._text(total, total).replace(f"{total}/{total} runs", f"{total} runs")
        self.progress.finish(f"{text}, {result.sweep.status}", status=result.sweep.status)

    def interrupted(self) -> None:
        self.progress.finish(f"{self.what}: interrupted", status="cancelled")

    def _text(self, done: int, total: int) -> str:
        failed = sum(run.status != "succeeded" for run in self.runs)
        text = f"{self.what}: {done}/{total} runs"
        if failed:
            text += f", {failed} not succeeded"
        best = self.select.best(self.runs) if self.select else None
        if best is not None and self.select is not None:
            metric = self.select.metric
            text += f", best {metric} {best.metrics[metric]:.4g} (run {best.id[:12]})"
        return text

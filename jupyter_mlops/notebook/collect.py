"""Step 1 of building a Plan: each code cell of a notebook to its role.

A code cell's tags (``tags.py``), MLRun markers (``peer_markers.py``) and the tagged cell
before it decide where it goes: parameters, setup, a function's draft (its cells, ``after``
tags, options, metrics cells, doc), Kale's pipeline-metrics names, or nowhere. This stands
apart from ``parser.py`` because it reads only cells and tags: no name analysis, no edges;
the parser's builder extends the collector with those later steps.
"""

from __future__ import annotations

import ast
import keyword
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotebookError, TagError
from . import tags as tag_grammar
from .analysis import BlockNames
from .peer_markers import ignored_by_marker, mlrun_sections
from .plan import CellCode, PlanWarning
from .reader import NotebookSource, cell_source, cell_tags
from .source import to_plain_python


@dataclass
class Draft:
    """A function while its cells are being collected."""

    name: str
    cells: list[CellCode] = field(default_factory=list)
    # (function, cell, lenient): lenient for Kale's prev: on a continuation cell, which
    # Kale itself never reads (only a step's first cell gives its edges)
    after: list[tuple[str, int, bool]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    option_cells: dict[str, int] = field(default_factory=dict)
    metric_cells: list[int] = field(default_factory=list)
    doc: str = ""
    names: BlockNames = field(default_factory=BlockNames)


class CellCollector:
    """Collects a notebook's code cells by role; ``_assign_roles`` fills it."""

    def __init__(self, notebook: NotebookSource) -> None:
        self.notebook = notebook
        self.name = notebook.name
        self.warnings: list[PlanWarning] = []
        self.parameter_cells: list[CellCode] = []
        self.setup: list[CellCode] = []
        self.drafts: dict[str, Draft] = {}
        self.leading: list[CellCode] = []
        self.metric_names: list[tuple[str, int]] = []  # Kale pipeline-metrics names
        # where the last code cell went: "fn:NAME", or what else ("setup code"...)
        self.last_function: str | None = None
        self.whole_notebook = False
        self.leading_metrics: list[int] = []  # metrics cells before any function tag
        self.split: dict[str, tuple[int, int]] = {}  # function -> two non-consecutive cells

    def warn(self, cell: int | None, message: str, *, plain_python_only: bool = False) -> None:
        self.warnings.append(PlanWarning(cell, message, plain_python_only))

    def _assign_roles(self) -> None:
        cells = self.notebook.cells
        sections = mlrun_sections(cells)
        current: str | None = None  # a role name, or "fn:NAME"
        last_markdown = ""
        for index, cell in enumerate(cells):
            if cell.get("cell_type") == "markdown":
                last_markdown = cell_source(cell)
                continue
            if cell.get("cell_type") != "code":
                continue
            source = cell_source(cell)
            tags = tag_grammar.read_tags(cell_tags(cell), cell=index, notebook=self.name)
            for note in tags.notes:
                self.warn(index, note)
            if ignored_by_marker(source):
                continue
            if sections is not None:
                if index not in sections:
                    continue
                source, section = sections[index]
                if tags.role is None:  # an MLRun section is a function, named or the notebook's
                    name = section or python_identifier(self.notebook.stem)
                    tags = tag_grammar.read_tags(
                        [f"mlops:fn:{name}"], cell=index, notebook=self.name
                    )
            if not source.strip() and tags.role is None:
                continue
            role = tags.role
            if role not in {tag_grammar.FUNCTION, tag_grammar.METRICS, None}:
                self._untagged_options(index, tags)
            if role == tag_grammar.SKIP:
                if not tags.transparent:
                    current = tag_grammar.SKIP
                continue
            code = self._plain(index, source)
            if role == tag_grammar.PARAMETERS:
                self.parameter_cells.append(code)
                current = tag_grammar.PARAMETERS if tags.absorbs else None
            elif role == tag_grammar.SETUP:
                self.setup.append(code)
                current = tag_grammar.SETUP
            elif role == tag_grammar.FUNCTION and tags.function is not None:
                draft = self._draft(tags.function, last_markdown)
                self._check_consecutive(draft, index)
                self._add(draft, code, tags, tag_grammar.METRICS in tags.roles)
                current = "fn:" + tags.function
            elif role == tag_grammar.METRICS:
                if current is None and not self.drafts:
                    # the whole notebook's metrics, if no function tag follows (see build)
                    self.leading.append(code)
                    self.leading_metrics.append(index)
                elif current is None or not current.startswith("fn:"):
                    raise metrics_outside_a_function(self.name, index)
                else:
                    self._add(self.drafts[current[3:]], code, tags, True)
            elif role == tag_grammar.METRICS_NAMES:
                self._metric_declaration(code)
                current = tag_grammar.METRICS_NAMES
            elif current is not None and current.startswith("fn:"):
                self._add(self.drafts[current[3:]], code, tags, False)
            elif current == tag_grammar.SETUP:
                self.setup.append(code)
            elif current == tag_grammar.PARAMETERS:
                self.parameter_cells.append(code)
            elif current == tag_grammar.METRICS_NAMES:
                self._metric_declaration(code)
            elif current != tag_grammar.SKIP:
                self.leading.append(code)
                self._untagged_options(index, tags)
            if self.last_function != current:  # the cell went to no function
                what = {
                    tag_grammar.SETUP: "setup code",
                    tag_grammar.PARAMETERS: "parameters",
                    tag_grammar.METRICS_NAMES: "pipeline-metrics",
                }
                self.last_function = what.get(role or current or "", "untagged code")
            last_markdown = ""

    def _plain(self, index: int, source: str) -> CellCode:
        plain = to_plain_python(source)
        for magic in plain.untranslated:
            self.warn(
                index,
                f"{magic.text!r} (line {magic.line}) has no plain-Python equivalent; kernels "
                f"run it, generated Python keeps it as a comment: {magic.advice}",
                plain_python_only=True,
            )
        try:
            ast.parse(plain.code)
        except SyntaxError as err:
            error = f"{err.msg} (line {err.lineno})"
            self.warn(
                index,
                f"the code does not parse as Python: {error}; analysis skips the "
                "cell and conversion to Python will refuse it",
            )
            return CellCode(index, source, plain.code, error)
        return CellCode(index, source, plain.code)

    def _check_consecutive(self, draft: Draft, index: int) -> None:
        """One function tag on cells with another function's cells between them is legal
        (the cells run as one function, in notebook order) but rarely meant: say so."""
        if not draft.cells or self.last_function == "fn:" + draft.name:
            return
        self.split.setdefault(draft.name, (draft.cells[-1].index, index))
        between = self.last_function or ""
        between = f"function {between[3:]!r}" if between.startswith("fn:") else between
        self.warn(
            index,
            f"function {draft.name!r} is tagged on cell {draft.cells[-1].index} and again on "
            f"cell {index}, with {between} between them; its cells run as one "
            "function in notebook order (rename one if they are two functions)",
        )

    def _draft(self, name: str, doc: str) -> Draft:
        draft = self.drafts.get(name)
        if draft is None:
            draft = self.drafts[name] = Draft(name, doc=first_paragraph(doc))
        return draft

    def _add(self, draft: Draft, code: CellCode, tags: tag_grammar.CellTags, metrics: bool) -> None:
        continuation = bool(draft.cells)
        draft.cells.append(code)
        self.last_function = "fn:" + draft.name
        draft.after.extend(
            (name, code.index, continuation and name in tags.kale_after) for name in tags.after
        )
        for key, value in tags.options.items():
            if key in draft.options and draft.options[key] != value:
                raise TagError(
                    f"function {draft.name!r} has option {key!r} = {value!r} here but "
                    f"{draft.options[key]!r} in cell {draft.option_cells[key]}",
                    notebook=self.name,
                    cell=code.index,
                )
            draft.options[key] = value
            draft.option_cells.setdefault(key, code.index)
        if metrics:
            draft.metric_cells.append(code.index)

    def _untagged_options(self, index: int, tags: tag_grammar.CellTags) -> None:
        if tags.after or tags.options:
            self.warn(index, "after/option tags apply only to function cells; ignored here")

    def _metric_declaration(self, code: CellCode) -> None:
        """Kale's pipeline-metrics cell: names (bare or printed) of values to report."""
        tree = self._parse(code)
        for statement in tree.body:
            value = statement.value if isinstance(statement, ast.Expr) else None
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "print":
                names = [a for a in value.args if isinstance(a, ast.Name)]
            else:
                names = [value] if isinstance(value, ast.Name) else []
            if not names:
                self.warn(
                    code.index,
                    f"line {statement.lineno} of the metrics cell is not a variable name; ignored",
                )
            self.metric_names.extend((n.id, code.index) for n in names)

    def _whole_notebook_function(self) -> None:
        cells = self.leading
        self.leading = []
        if not cells:
            return
        name = python_identifier(self.notebook.stem)
        self.drafts[name] = Draft(name, cells=cells, metric_cells=self.leading_metrics)
        self.whole_notebook = True
        self.warn(None, f"no function tags: the whole notebook is one function {name!r}")

    def _parse(self, code: CellCode) -> ast.Module:
        try:
            return ast.parse(code.python, filename=f"<cell {code.index}>")
        except SyntaxError as err:
            raise NotebookError(
                f"the code does not parse: {err.msg} (line {err.lineno})",
                notebook=self.name,
                cell=code.index,
            ) from None


def metrics_outside_a_function(notebook: str, cell: int) -> TagError:
    """The error for a metrics cell with no function to belong to (the builder raises it too)."""
    return TagError(
        "a mlops:metrics cell belongs to a function: tag it mlops:fn:NAME too, or put it "
        "right after that function's cells",
        notebook=notebook,
        cell=cell,
    )


def python_identifier(name: str) -> str:
    """A Python identifier for a tag name: ``load-data`` -> ``load_data``."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(c if (c.isalnum() or c == "_") else "_" for c in text)
    if not text or not text.isidentifier():
        text = "fn_" + text
    if keyword.iskeyword(text):
        text += "_"
    return text


def first_paragraph(markdown: str) -> str:
    """A function's doc: the first non-empty paragraph of the markdown before it, short."""
    for block in markdown.strip().split("\n\n"):
        text = " ".join(line.strip().lstrip("#").strip() for line in block.splitlines())
        if text:
            return text[:200]
    return ""

"""Build a Plan from a notebook: cells to roles, roles to functions, names to edges.

The steps, in order:

1. every code cell gets a role from its tags (``tags.py``); untagged cells continue the role
   of the tagged cell before them; cells outside MLRun's start/end markers are skipped;
2. the parameters cells give typed parameters; the setup cells give names every function
   may use;
3. each function's cells are analyzed as one block (``analysis.py``); a name it reads from
   outside comes from the nearest earlier function that defines it, else a parameter, else
   setup; what cannot be resolved is a warning naming the cell;
4. edges (data and ``after``) make a DAG, checked for cycles and sorted stably by position;
5. each function gets a content-hash version (``versioning.py``).
"""

from __future__ import annotations

import ast
import keyword
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotebookError, PlanError, TagError
from . import tags as tag_grammar
from .analysis import BlockNames, Position, analyze_block, statement_names
from .ast_names import BUILTIN_NAMES
from .dependencies import function_edges, run_order
from .parameters import Parameter, parse_parameters
from .peer_markers import ignored_by_marker, mlrun_sections
from .plan import PARAMETERS, CellCode, Function, Metric, Plan, PlanWarning
from .reader import NOTEBOOK_SOURCE, NotebookSource, cell_source, cell_tags, read_notebook
from .source import to_plain_python
from .versioning import function_version, setup_used, split_setup

# Names the generated modules define themselves; a function must not replace them.
GENERATED_NAMES = frozenset(
    {
        "main",
        "run_pipeline",
        "pipeline",
        "PARAMETERS",
        "METRICS",
        "argparse",
        "ast",
        "json",
        "sys",
        "os",
        "Any",
        "Literal",
        "annotations",
        "dsl",
        "Artifact",
        "Input",
        "Output",
        "Metrics",
        "mlops_load",
        "mlops_save",
    }
)


def parse_notebook(source: NOTEBOOK_SOURCE | NotebookSource, *, name: str | None = None) -> Plan:
    """Read a notebook (path, content or NotebookSource) into a Plan."""
    notebook = source if isinstance(source, NotebookSource) else read_notebook(source, name=name)
    with _AST_LOCK:
        return _Builder(notebook).build()


# CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two
# threads building ASTs at once can fail with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython gh-106905). The server parses on several threads; one at a time
# costs nothing (parsing holds the GIL anyway) and removes that 500.
_AST_LOCK = threading.RLock()


@dataclass
class _Draft:
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


class _Builder:
    def __init__(self, notebook: NotebookSource) -> None:
        self.notebook = notebook
        self.name = notebook.name
        self.warnings: list[PlanWarning] = []
        self.parameter_cells: list[CellCode] = []
        self.setup: list[CellCode] = []
        self.drafts: dict[str, _Draft] = {}
        self.leading: list[CellCode] = []
        self.metric_names: list[tuple[str, int]] = []  # Kale pipeline-metrics names
        self.parameters: list[Parameter] = []
        self.setup_imports: set[str] = set()  # modules: calling their methods changes no data
        self.star_import = False  # setup has 'from x import *': unknown names may come from it
        # where the last code cell went: "fn:NAME", or what else ("setup code"...)
        self.last_function: str | None = None
        self.whole_notebook = False
        self.leading_metrics: list[int] = []  # metrics cells before any function tag
        self.split: dict[str, tuple[int, int]] = {}  # function -> two non-consecutive cells

    def warn(self, cell: int | None, message: str) -> None:
        self.warnings.append(PlanWarning(cell, message))

    # -- 1. roles ------------------------------------------------------------------------
    def build(self) -> Plan:
        self._assign_roles()
        if not self.drafts:
            self._whole_notebook_function()
        elif self.leading_metrics:
            raise _metrics_outside_a_function(self.name, self.leading_metrics[0])
        elif self.leading:
            cells = ", ".join(str(c.index) for c in self.leading)
            self.warn(
                self.leading[0].index,
                f"cells {cells} come before any tagged cell and are left out; tag them "
                "mlops:setup, mlops:fn:NAME or mlops:skip",
            )
        parameters = self.parameters = self._parameters()
        setup_names, setup_statements = self._setup(parameters)
        functions = self._functions(parameters, setup_names)
        after = {name: draft.after for name, draft in self.drafts.items()}
        edges = function_edges(functions, after, self.name, self.warn)
        ordered = run_order(functions, edges, self.split, self.name)
        metrics = self._metrics(functions)
        self._identifiers(ordered, parameters, setup_names)
        for function in ordered:
            function.setup_used = setup_used(
                set(self.drafts[function.name].names.reads), setup_statements
            )
            function.version = function_version(
                function, parameters, [text for text, _, _ in setup_statements]
            )
        return Plan(
            self.name,
            parameters,
            self.setup,
            ordered,
            edges,
            metrics,
            self.warnings,
            [text for text, _, _ in setup_statements],
            whole_notebook=self.whole_notebook,
        )

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
                    name = section or _identifier(self.notebook.stem)
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
                    raise _metrics_outside_a_function(self.name, index)
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
                f"{magic.text!r} (line {magic.line}) has no plain-Python "
                "equivalent; kernels run it, generated Python keeps it as a comment",
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

    def _check_consecutive(self, draft: _Draft, index: int) -> None:
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

    def _draft(self, name: str, doc: str) -> _Draft:
        draft = self.drafts.get(name)
        if draft is None:
            draft = self.drafts[name] = _Draft(name, doc=_first_paragraph(doc))
        return draft

    def _add(
        self, draft: _Draft, code: CellCode, tags: tag_grammar.CellTags, metrics: bool
    ) -> None:
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
        name = _identifier(self.notebook.stem)
        self.drafts[name] = _Draft(name, cells=cells, metric_cells=self.leading_metrics)
        self.whole_notebook = True
        self.warn(None, f"no function tags: the whole notebook is one function {name!r}")

    # -- 2. parameters and setup ---------------------------------------------------------
    def _parameters(self) -> list[Parameter]:
        found: dict[str, Parameter] = {}
        for code in self.parameter_cells:
            for parameter in parse_parameters(code.index, code.python, notebook=self.name):
                if parameter.name in found:
                    raise TagError(
                        f"parameter {parameter.name!r} is declared again (first in "
                        f"cell {found[parameter.name].cell})",
                        notebook=self.name,
                        cell=code.index,
                    )
                found[parameter.name] = parameter
        return list(found.values())

    def _setup(
        self, parameters: list[Parameter]
    ) -> tuple[set[str], list[tuple[str, set[str], set[str]]]]:
        usable = [code for code in self.setup if not code.error]
        names = analyze_block((code.index, code.python) for code in usable)
        parameter_names = {p.name for p in parameters}
        for name, position in names.reads.items():
            if name in parameter_names:
                self.warn(
                    position.cell,
                    f"setup code reads parameter {name!r}; setup runs "
                    "before parameters are applied, so it sees the default",
                )
        for position, module in names.star_imports:
            self.warn(
                position.cell,
                f"'from {module} import *' hides which names it defines; "
                "names no cell defines are assumed to come from it",
            )
        statements = split_setup(code.python for code in usable)
        self.star_import = bool(names.star_imports)
        self.setup_imports = set(names.imports)
        return names.defined, statements

    def _parse(self, code: CellCode) -> ast.Module:
        try:
            return ast.parse(code.python, filename=f"<cell {code.index}>")
        except SyntaxError as err:
            raise NotebookError(
                f"the code does not parse: {err.msg} (line {err.lineno})",
                notebook=self.name,
                cell=code.index,
            ) from None

    # -- 3. functions ----------------------------------------------------------------------
    def _functions(self, parameters: list[Parameter], setup_names: set[str]) -> list[Function]:
        for draft in self.drafts.values():
            draft.names = analyze_block((c.index, c.python) for c in draft.cells if not c.error)
            self._report_hidden_names(draft)
        parameter_names = {p.name for p in parameters}
        functions = {
            name: Function(
                name=name,
                identifier=name,
                cells=draft.cells,
                doc=draft.doc,
                options=dict(draft.options),
            )
            for name, draft in self.drafts.items()
        }
        consumers: dict[str, set[str]] = {name: set() for name in functions}
        for name, draft in self.drafts.items():
            function = functions[name]
            pending = sorted(draft.names.reads.items(), key=lambda item: item[1])
            definitions: list[tuple[Position, str, str]] = []
            resolved: set[str] = set()
            while pending:
                variable, position = pending.pop(0)
                if variable in resolved:
                    continue
                resolved.add(variable)
                producer = self._producer(name, variable, position)
                code = self._portable(producer, variable)
                if producer is not None and code is not None:
                    # Code, not data: copy the import/def, and resolve what a def reads.
                    definitions.append(
                        (self._definition_position(producer, variable), producer, code)
                    )
                    _, reads = statement_names(ast.parse(code).body[0])
                    pending.extend((read, position) for read in sorted(reads))
                elif producer is not None:
                    function.inputs.append(variable)
                    function.sources[variable] = producer
                    consumers[producer].add(variable)
                elif variable in parameter_names:
                    function.inputs.append(variable)
                    function.sources[variable] = PARAMETERS
                elif variable not in setup_names:
                    self._unresolved(name, variable, position)
            # In notebook order, so an import comes before the class that needs it.
            function.definitions = [(p, code) for _, p, code in sorted(set(definitions))]
            function.imports = sorted(
                {m.split(".")[0].lstrip(".") for m in draft.names.imports.values()} - {""}
            )
        for name, function in functions.items():
            function.metrics = self._function_metrics(self.drafts[name])
            function.outputs = self._outputs(self.drafts[name], consumers[name], function.metrics)
        return list(functions.values())

    def _definition_position(self, producer: str, variable: str) -> Position:
        return self.drafts[producer].names.binds.get(variable) or Position(0, 0)

    def _portable(self, producer: str | None, variable: str) -> str | None:
        """The import/def/class statement that last defined ``variable`` in ``producer``."""
        if producer is None:
            return None
        names = self.drafts[producer].names
        if variable in names.modified:
            return None
        return names.portable.get(variable)

    def _report_hidden_names(self, draft: _Draft) -> None:
        for position, what in draft.names.dynamic:
            self.warn(
                position.cell,
                f"{what} (line {position.line}) can read or define names "
                "that analysis cannot see; check the function's inputs",
            )
        for position, module in draft.names.star_imports:
            self.warn(
                position.cell,
                f"'from {module} import *' (line {position.line}) hides which names it defines",
            )
        for position, name in draft.names.global_decls:
            self.warn(
                position.cell,
                f"'global {name}' (line {position.line}): in generated "
                "code the cell runs inside a function, so it refers to a "
                "module-level name",
            )
        for position in draft.names.awaits:
            self.warn(
                position.cell,
                f"top-level 'await' (line {position.line}) runs in a "
                "kernel but not in a generated plain-Python function",
            )

    def _producer(self, consumer: str, variable: str, position: Position) -> str | None:
        """The function whose definition of ``variable`` is the latest one before ``position``."""
        best: tuple[Position, str] | None = None
        defining: list[tuple[Position, str]] = []
        for name, draft in self.drafts.items():
            if name == consumer:
                continue
            names = draft.names
            changed = None if variable in self.setup_imports else names.modified.get(variable)
            candidates = [
                p
                for p in (names.first_binds.get(variable), names.binds.get(variable), changed)
                if p is not None and p < position
            ]
            if candidates and variable not in names.deleted:
                latest = max(candidates)
                defining.append((latest, name))
                if best is None or latest > best[0]:
                    best = (latest, name)
        if best is None:
            return None
        chosen = self.drafts[best[1]].names
        fresh = [n for p, n in defining if n != best[1]]
        if fresh and variable not in chosen.reads:
            where = ", ".join(f"{n} (cell {self.drafts[n].cells[0].index})" for n in fresh)
            self.warn(
                position.cell,
                f"{variable!r} is defined by {best[1]} (cell {best[0].cell}) and also by "
                f"{where}; {consumer} uses the one from {best[1]}",
            )
        return best[1]

    def _unresolved(self, consumer: str, variable: str, position: Position) -> None:
        draft = self.drafts[consumer]
        later = [n for n, d in self.drafts.items() if n != consumer and variable in d.names.binds]
        if variable in draft.names.binds:  # the function assigns it itself, maybe later
            if draft.names.first_binds[variable] > position:
                self.warn(
                    position.cell,
                    f"{variable!r} is read (line {position.line}) before this function assigns it",
                )
            return
        if later:
            self.warn(
                position.cell,
                f"{consumer} reads {variable!r} (line {position.line}) but "
                f"only {later[0]}, later in the notebook, defines it",
            )
        elif variable not in BUILTIN_NAMES and not (self.star_import or draft.names.star_imports):
            self.warn(
                position.cell,
                f"{variable!r} (line {position.line}) is not defined by any "
                "parameter, setup cell or function",
            )

    def _function_metrics(self, draft: _Draft) -> list[str]:
        names: list[str] = []
        for index in draft.metric_cells:
            cell = next(c for c in draft.cells if c.index == index)
            block = analyze_block([(index, cell.python)])
            for name in [*block.top_assigned, *block.bare_names]:
                if name not in names:
                    names.append(name)
        return names

    def _outputs(self, draft: _Draft, consumed: set[str], metrics: list[str]) -> list[str]:
        names = draft.names
        wanted = set(consumed) | set(metrics)
        if not wanted:  # a sink: everything it assigns at top level is its result
            wanted = {n for n in names.top_assigned if not n.startswith("_")}
            wanted -= set(names.imports)
        wanted -= names.deleted
        return sorted(wanted, key=lambda n: (names.last_definition(n) or Position(0, 0), n))

    def _metrics(self, functions: list[Function]) -> list[Metric]:
        metrics = [
            Metric(name, f.name, self.drafts[f.name].metric_cells[0])
            for f in functions
            for name in f.metrics
        ]
        parameter_names = {p.name for p in self.parameters}
        for name, cell in dict.fromkeys(self.metric_names):
            if any(m.name == name for m in metrics):
                continue
            producer = self._producer("", name, Position(cell, 0))
            if producer is None and name in parameter_names:
                metrics.append(Metric(name, PARAMETERS, cell))
                continue
            if producer is None:
                self.warn(cell, f"metric {name!r} is not defined by any function")
                continue
            function = next(f for f in functions if f.name == producer)
            if name not in function.metrics:
                function.metrics.append(name)
            if name not in function.outputs:
                function.outputs.append(name)
            metrics.append(Metric(name, producer, cell))
        return metrics

    def _identifiers(
        self, functions: list[Function], parameters: list[Parameter], setup_names: set[str]
    ) -> None:
        """Python names for functions, clear of every name the notebook's code uses."""
        taken = {p.name for p in parameters} | setup_names | GENERATED_NAMES
        for draft in self.drafts.values():
            taken |= set(draft.names.binds) | set(draft.names.reads)
        seen: dict[str, str] = {}
        for function in functions:
            identifier = _identifier(function.name)
            if identifier in taken:
                identifier += "_step"
            if identifier in seen:
                raise PlanError(
                    f"functions {seen[identifier]!r} and {function.name!r} have one "
                    f"name in Python ({identifier!r}); rename one",
                    notebook=self.name,
                    cell=function.cells[0].index,
                )
            seen[identifier] = function.name
            function.identifier = identifier


def _metrics_outside_a_function(notebook: str, cell: int) -> TagError:
    return TagError(
        "a mlops:metrics cell belongs to a function: tag it mlops:fn:NAME too, or put it "
        "right after that function's cells",
        notebook=notebook,
        cell=cell,
    )


def _identifier(name: str) -> str:
    """A Python identifier for a tag name: ``load-data`` -> ``load_data``."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(c if (c.isalnum() or c == "_") else "_" for c in text)
    if not text or not text.isidentifier():
        text = "fn_" + text
    if keyword.iskeyword(text):
        text += "_"
    return text


def _first_paragraph(markdown: str) -> str:
    for block in markdown.strip().split("\n\n"):
        text = " ".join(line.strip().lstrip("#").strip() for line in block.splitlines())
        if text:
            return text[:200]
    return ""

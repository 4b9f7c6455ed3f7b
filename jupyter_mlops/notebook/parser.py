"""Build a Plan from a notebook: cells to roles, roles to functions, names to edges.

The steps, in order:

1. every code cell gets a role from its tags (``tags.py``); untagged cells continue the role
   of the tagged cell before them; cells outside MLRun's start/end markers
   (``peer_markers.py``) are skipped; this step lives in ``collect.py``;
2. the parameters cells give typed parameters; the setup cells give names every function
   may use;
3. each function's cells are analyzed as one block (``analysis.py``); a name it reads from
   outside comes from the nearest earlier function that defines it, else a parameter, else
   setup; what cannot be resolved is a warning naming the cell;
4. edges (data and ``after``) make a DAG, checked for cycles and sorted stably by position
   (``dependencies.py``);
5. each function gets a content-hash version (``versioning.py``).
"""

from __future__ import annotations

import ast
import threading

from ..errors import PlanError, TagError
from .analysis import Position, analyze_block, statement_names
from .ast_names import BUILTIN_NAMES
from .collect import CellCollector, Draft, metrics_outside_a_function, python_identifier
from .dependencies import function_edges, run_order
from .injected import apply_injected
from .parameters import Parameter, kept_statement_warning, read_parameters_cell
from .plan import PARAMETERS, CellCode, Function, Metric, Plan
from .reader import NOTEBOOK_SOURCE, NotebookSource, read_notebook
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


# What an IPython kernel provides without an import, and what generated Python must do instead
KERNEL_ONLY_NAMES = {
    "get_ipython": "exists only in an IPython kernel: generated plain Python has no shell",
    "display": "is a builtin only in an IPython kernel: import it "
    "(from IPython.display import display) for plain Python",
    "In": "(the kernel's input history) exists only in an IPython kernel",
    "Out": "(the kernel's output history) exists only in an IPython kernel",
}


class _Builder(CellCollector):
    """Steps 2-5 on the collected cells: parameters, setup, functions, edges, versions."""

    def __init__(self, notebook: NotebookSource) -> None:
        super().__init__(notebook)
        self.parameters: list[Parameter] = []
        self.setup_imports: set[str] = set()  # modules: calling their methods changes no data
        self.star_import = False  # setup has 'from x import *': unknown names may come from it
        self.definers: dict[str, list[str]] = {}  # variable -> functions binding it, in order
        # Parameters cells with code besides literals, and the names that code binds
        self.parameters_code: list[CellCode] = []
        self.kept_names: set[str] = set()

    def build(self) -> Plan:
        self._assign_roles()
        if not self.drafts:
            self._whole_notebook_function()
        elif self.leading_metrics:
            raise metrics_outside_a_function(self.name, self.leading_metrics[0])
        elif self.leading:
            cells = ", ".join(str(c.index) for c in self.leading)
            self.warn(
                self.leading[0].index,
                f"cells {cells} come before any tagged cell and are left out; tag them "
                "mlops:setup, mlops:fn:NAME or mlops:skip",
            )
        parameters = self.parameters = self._parameters()
        setup_names, setup_statements = self._setup(parameters)
        # The parameters cells' code runs before the setup, so it versions like setup code
        # (with its literal lines: a computed value depends on the defaults it reads).
        setup_statements = split_setup(c.python for c in self.parameters_code) + setup_statements
        functions = self._functions(parameters, setup_names | self.kept_names)
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
            parameters_code=list(self.parameters_code),
        )

    # -- 2. parameters and setup ---------------------------------------------------------
    def _parameters(self) -> list[Parameter]:
        found: dict[str, Parameter] = {}
        for code in self.parameter_cells:
            cell = read_parameters_cell(code.index, code.python, notebook=self.name)
            if cell.kept:
                self.parameters_code.append(code)
            for kept in cell.kept:
                self.kept_names |= kept.binds
                self.warn(code.index, kept_statement_warning(kept))
            for parameter in cell.parameters:
                if parameter.name in found:
                    raise TagError(
                        f"parameter {parameter.name!r} is declared again (first in "
                        f"cell {found[parameter.name].cell})",
                        notebook=self.name,
                        cell=code.index,
                    )
                found[parameter.name] = parameter
        return apply_injected(list(found.values()), self.notebook.cells, self.warn)

    def _setup(
        self, parameters: list[Parameter]
    ) -> tuple[set[str], list[tuple[str, set[str], set[str]]]]:
        usable = [code for code in self.setup if not code.error]
        names = analyze_block((code.index, code.python) for code in usable)
        self._report_kernel_names(usable, set(names.defined))
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

    # -- 3. functions ----------------------------------------------------------------------
    def _functions(self, parameters: list[Parameter], setup_names: set[str]) -> list[Function]:
        for key, draft in self.drafts.items():
            draft.names = analyze_block((c.index, c.python) for c in draft.cells if not c.error)
            self._report_hidden_names(draft)
            self._report_kernel_names(draft.cells, set(draft.names.binds) | setup_names)
            names = draft.names
            for variable in {*names.first_binds, *names.binds, *names.modified}:
                self.definers.setdefault(variable, []).append(key)
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

    def _report_kernel_names(self, cells: list[CellCode], bound: set[str]) -> None:
        """Names only an IPython kernel provides (``get_ipython``, ``display``, ``In``,
        ``Out``), read where nothing binds them: plain Python has no such name."""
        for cell in cells:
            if cell.error:
                continue
            seen: set[str] = set()
            for node in ast.walk(ast.parse(cell.python)):
                if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
                    continue
                name = node.id
                if name in KERNEL_ONLY_NAMES and name not in bound and name not in seen:
                    seen.add(name)
                    self.warn(
                        cell.index,
                        f"{name!r} (line {node.lineno}) {KERNEL_ONLY_NAMES[name]}",
                        plain_python_only=True,
                    )

    def _report_hidden_names(self, draft: Draft) -> None:
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
        # only the functions that bind or change it: all of them made a long chain quadratic
        for name in self.definers.get(variable, ()):
            if name == consumer:
                continue
            names = self.drafts[name].names
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
            shell = variable in draft.names.expanded
            self.warn(
                position.cell,
                f"{variable!r} (line {position.line}) is not defined by any "
                "parameter, setup cell or function"
                + (
                    f"; in a command line IPython then leaves the whole line unexpanded: "
                    f"write $${variable} for the shell's variable, or define it"
                    if shell
                    else ""
                ),
            )

    def _function_metrics(self, draft: Draft) -> list[str]:
        names: list[str] = []
        for index in draft.metric_cells:
            cell = next(c for c in draft.cells if c.index == index)
            block = analyze_block([(index, cell.python)])
            for name in [*block.top_assigned, *block.bare_names]:
                if name not in names:
                    names.append(name)
        return names

    def _outputs(self, draft: Draft, consumed: set[str], metrics: list[str]) -> list[str]:
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
            identifier = python_identifier(function.name)
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

"""Which names a block of cells reads from outside and which it defines, by static analysis.

A block is the code of one function (or of the setup), cell after cell, as plain Python.
We walk its top-level statements in order, as the kernel would run them:

- a name read before the block has *surely* bound it is an outside read (a candidate input);
  a binding inside ``if``/``for``/``while``/``except`` is only *maybe*, so a later read still
  counts as outside (the branch may not run);
- bodies of ``def`` and methods run later: their free names are outside reads only when the
  block binds them nowhere; lambdas, comprehensions and class bodies run at once;
- ``x.attr = …``, ``x[k] = …``, ``x += …``, ``del x[k]``, ``x.method(…)`` as a statement and any
  call with ``inplace=True`` change ``x`` in place, so ``x`` also counts as defined here;
- ``global`` in a ``def`` binds a module name; star imports, ``exec``/``eval`` and
  ``globals()`` hide names and are reported, never guessed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from .ast_names import (
    DYNAMIC_CALLS,
    INTERNAL_PREFIX,
    NON_MUTATING_METHODS,
    assigns_in,
    base_name,
    free_names,
    walk_outer_scope,
    walrus_targets,
)


@dataclass(frozen=True, order=True)
class Position:
    """Where something is: a notebook cell (0-based) and a line in it (1-based)."""

    cell: int
    line: int


@dataclass
class BlockNames:
    """What a block of cells reads from outside and binds, with where."""

    reads: dict[str, Position] = field(default_factory=dict)
    binds: dict[str, Position] = field(default_factory=dict)
    first_binds: dict[str, Position] = field(default_factory=dict)
    surely_bound: set[str] = field(default_factory=set)
    modified: dict[str, Position] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    imports: dict[str, str] = field(default_factory=dict)  # bound name -> module
    # Top-level imports, defs and classes by the name they bind: code, not data, so another
    # function that reads the name gets a copy of the statement instead of a value.
    portable: dict[str, str] = field(default_factory=dict)
    top_assigned: dict[str, Position] = field(default_factory=dict)
    bare_names: dict[str, Position] = field(default_factory=dict)
    star_imports: list[tuple[Position, str]] = field(default_factory=list)
    dynamic: list[tuple[Position, str]] = field(default_factory=list)
    global_decls: list[tuple[Position, str]] = field(default_factory=list)
    awaits: list[Position] = field(default_factory=list)
    # names read to expand a command line ('!echo $x {y}'): IPython leaves the line as written
    # when one is not defined, so the warning for them says so
    expanded: set[str] = field(default_factory=set)

    @property
    def defined(self) -> set[str]:
        """Names the block leaves bound: bound or changed in place, and not deleted after."""
        return (set(self.binds) | set(self.modified)) - self.deleted

    def last_definition(self, name: str) -> Position | None:
        positions = [p for p in (self.binds.get(name), self.modified.get(name)) if p]
        return max(positions) if positions else None


class CellSyntaxError(Exception):
    """A cell's (plain-Python) code does not parse."""

    def __init__(self, cell: int, line: int, message: str) -> None:
        self.cell, self.line, self.message = cell, line, message
        super().__init__(f"cell {cell}, line {line}: {message}")


def parse_cell(cell: int, code: str) -> ast.Module:
    try:
        return ast.parse(code, filename=f"<cell {cell}>")
    except SyntaxError as err:
        raise CellSyntaxError(cell, err.lineno or 1, err.msg) from None


def analyze_block(cells: Iterable[tuple[int, str | ast.Module]]) -> BlockNames:
    """Analyze cells (index, plain-Python code or its parsed tree) as one block, in order."""
    walker = _BlockWalker()
    for index, code in cells:
        tree = code if isinstance(code, ast.Module) else parse_cell(index, code)
        walker.cell = index
        for statement in tree.body:
            walker.statement(statement, surely=True, top=True)
    walker.finish()
    return walker.names


def statement_names(statement: ast.stmt) -> tuple[set[str], set[str]]:
    """(names bound, names read from outside) of one top-level statement."""
    walker = _BlockWalker()
    walker.statement(statement, surely=True, top=True)
    walker.finish()
    return walker.names.defined, set(walker.names.reads)


class _BlockWalker:
    def __init__(self) -> None:
        self.names = BlockNames()
        self.cell = 0
        self._deferred: list[tuple[str, Position]] = []
        self._maybe_walrus: set[ast.Name] = set()

    # -- bookkeeping ---------------------------------------------------------------------
    def _pos(self, node: ast.AST) -> Position:
        return Position(self.cell, getattr(node, "lineno", 1))

    def read(self, name: str, node: ast.AST) -> None:
        if name.startswith(INTERNAL_PREFIX):
            return
        if name not in self.names.surely_bound and name not in self.names.reads:
            self.names.reads[name] = self._pos(node)

    def bind(self, name: str, node: ast.AST, *, surely: bool) -> None:
        if name.startswith(INTERNAL_PREFIX):
            return
        position = self._pos(node)
        if not isinstance(
            node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            self.names.portable.pop(name, None)
        self.names.binds[name] = position
        self.names.first_binds.setdefault(name, position)
        self.names.deleted.discard(name)
        if surely:
            self.names.surely_bound.add(name)

    def modify(self, name: str, node: ast.AST) -> None:
        if name in self.names.imports or name.startswith(INTERNAL_PREFIX):
            return
        self.names.modified[name] = self._pos(node)

    def finish(self) -> None:
        bound = set(self.names.binds)
        for name, position in self._deferred:
            if name not in bound and name not in self.names.reads:
                self.names.reads[name] = position

    # -- statements ----------------------------------------------------------------------
    def statement(self, node: ast.stmt, *, surely: bool, top: bool = False) -> None:
        handler = getattr(self, "visit_" + type(node).__name__, None)
        if handler is not None:
            handler(node, surely, top)
        else:
            self.expressions(ast.iter_child_nodes(node))

    def body(self, statements: list[ast.stmt], surely: bool, top: bool = False) -> None:
        for statement in statements:
            self.statement(statement, surely=surely, top=top)

    def assigned_on_every_path(self, names: set[str], top: bool) -> None:
        """Names a compound statement binds on every way through it: at the top level they
        are assigned like ``x = …`` (a function's result, a metric)."""
        if top:
            for name in sorted(names):
                if name in self.names.binds:
                    self.names.top_assigned[name] = self.names.binds[name]

    def visit_Assign(self, node: ast.Assign, surely: bool, top: bool) -> None:
        self.expression(node.value)
        for target in node.targets:
            self.target(target, surely, top)

    def visit_AnnAssign(self, node: ast.AnnAssign, surely: bool, top: bool) -> None:
        self.expression(node.annotation)
        if node.value is not None:
            self.expression(node.value)
            self.target(node.target, surely, top)

    def visit_AugAssign(self, node: ast.AugAssign, surely: bool, top: bool) -> None:
        self.expression(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            self.read(target.id, target)
            self.bind(target.id, target, surely=surely)
            if top:
                self.names.top_assigned[target.id] = self._pos(target)
        else:
            self.changed_in_place(target)

    def branch(self, statements: list[ast.stmt], *, bind: ast.expr | None = None) -> None:
        """Code that may not run (a loop or handler body): inside it, its own bindings hold;
        after it, they are only maybe-bound."""
        before = set(self.names.surely_bound)
        if bind is not None:
            self.target(bind, True, False)
        self.body(statements, True)
        self.names.surely_bound = before

    def visit_For(self, node: ast.For | ast.AsyncFor, surely: bool, top: bool) -> None:
        self.expression(node.iter)
        self.branch(node.body, bind=node.target)
        self.branch(node.orelse)

    visit_AsyncFor = visit_For

    def visit_While(self, node: ast.While, surely: bool, top: bool) -> None:
        self.expression(node.test)
        self.branch(node.body)
        self.branch(node.orelse)

    def visit_If(self, node: ast.If, surely: bool, top: bool) -> None:
        self.expression(node.test)
        before = set(self.names.surely_bound)
        self.body(node.body, surely)
        after_body = self.names.surely_bound
        self.names.surely_bound = set(before)
        self.body(node.orelse, surely)
        # Surely bound after the if: bound on both branches (or before).
        both = after_body & self.names.surely_bound
        self.names.surely_bound = both | before
        self.assigned_on_every_path(both - before, top)

    def visit_With(self, node: ast.With | ast.AsyncWith, surely: bool, top: bool) -> None:
        for item in node.items:
            self.expression(item.context_expr)
            if item.optional_vars is not None:
                self.target(item.optional_vars, surely, False)
        self.body(node.body, surely, top)  # a with body runs, like top-level code

    visit_AsyncWith = visit_With

    def visit_Try(self, node: ast.Try, surely: bool, top: bool) -> None:
        before = set(self.names.surely_bound)
        self.body(node.body, surely)
        # Bound in the body and in every handler that does not re-raise: bound either way.
        every_path = self.names.surely_bound - before
        for handler in node.handlers:
            if handler.type is not None:
                self.expression(handler.type)
            bound = ast.Name(handler.name or "", ast.Store(), lineno=handler.lineno)
            binds = dict(self.names.binds)
            self.branch(handler.body, bind=bound if handler.name else None)
            if not (handler.body and isinstance(handler.body[-1], ast.Raise)):
                every_path = {n for n in every_path if self.names.binds.get(n) != binds.get(n)}
            if handler.name:  # Python unbinds 'except E as err' when the handler ends
                self.names.deleted.add(handler.name)
        self.assigned_on_every_path(every_path, top)
        self.branch(node.orelse)
        self.body(node.finalbody, surely)

    visit_TryStar = visit_Try

    def visit_Match(self, node: ast.Match, surely: bool, top: bool) -> None:
        self.expression(node.subject)
        for case in node.cases:
            before = set(self.names.surely_bound)
            for sub in ast.walk(case.pattern):
                name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                if isinstance(name, str):
                    self.bind(name, sub, surely=True)
                if isinstance(sub, ast.MatchValue):
                    self.expression(sub.value)
            if case.guard is not None:
                self.expression(case.guard)
            self.body(case.body, True)
            self.names.surely_bound = before

    def visit_Import(self, node: ast.Import, surely: bool, top: bool) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            self.bind(bound, node, surely=surely)
            self.names.imports[bound] = alias.name if alias.asname else bound
            if top:
                self.names.portable[bound] = ast.unparse(ast.Import(names=[alias]))

    def visit_ImportFrom(self, node: ast.ImportFrom, surely: bool, top: bool) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                self.names.star_imports.append((self._pos(node), module))
                continue
            bound = alias.asname or alias.name
            self.bind(bound, node, surely=surely)
            self.names.imports[bound] = f"{module}.{alias.name}"
            if top:
                self.names.portable[bound] = ast.unparse(
                    ast.ImportFrom(module=node.module, names=[alias], level=node.level)
                )

    def visit_FunctionDef(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, surely: bool, top: bool
    ) -> None:
        self.expressions(node.decorator_list)
        if isinstance(node, ast.ClassDef):
            self.expressions(node.bases)
            self.expressions(keyword.value for keyword in node.keywords)
        else:
            self.expressions(node.args.defaults)
            self.expressions(d for d in node.args.kw_defaults if d is not None)
        self.bind(node.name, node, surely=surely)
        if top:
            self.names.portable[node.name] = ast.unparse(node)
        else:
            self.names.portable.pop(node.name, None)
        deferred: list[ast.AST] = [node]
        if isinstance(node, ast.ClassDef):  # the class body runs now, its methods later
            deferred = [
                s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
            runs_now = ast.Module(body=[s for s in node.body if s not in deferred], type_ignores=[])
            for name in sorted(free_names(runs_now) - {d.name for d in deferred}):  # type: ignore[attr-defined]
                self.read(name, node)
        for scope in deferred:
            for name in sorted(free_names(scope)):
                self._deferred.append((name, self._pos(node)))
        for inner in ast.walk(node):
            if isinstance(inner, ast.Global):
                for name in inner.names:
                    self.names.global_decls.append((self._pos(inner), name))
                    if assigns_in(node, name):
                        self.bind(name, inner, surely=False)

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_ClassDef = visit_FunctionDef

    def visit_Delete(self, node: ast.Delete, surely: bool, top: bool) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.read(target.id, target)
                self.names.surely_bound.discard(target.id)
                self.names.deleted.add(target.id)
            else:
                self.changed_in_place(target)

    def visit_Expr(self, node: ast.Expr, surely: bool, top: bool) -> None:
        value = node.value
        if top and isinstance(value, ast.Name):
            self.names.bare_names.setdefault(value.id, self._pos(value))
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            base = base_name(value.func.value)
            if base is not None and value.func.attr not in NON_MUTATING_METHODS:
                self.modify(base, value)
        self.expression(value)

    def visit_Global(self, node: ast.Global, surely: bool, top: bool) -> None:
        """``global`` at module level changes nothing."""

    visit_Nonlocal = visit_Global

    # -- targets and expressions ---------------------------------------------------------
    def target(self, node: ast.expr, surely: bool, top: bool) -> None:
        if isinstance(node, ast.Name):
            self.bind(node.id, node, surely=surely)
            if top:
                self.names.top_assigned[node.id] = self._pos(node)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.target(element, surely, top)
        elif isinstance(node, ast.Starred):
            self.target(node.value, surely, top)
        else:
            self.changed_in_place(node)

    def changed_in_place(self, node: ast.expr) -> None:
        """``x.a = …``, ``x[k] = …``: reads the expression parts, and changes ``x``."""
        self.expression(node)
        base = base_name(node)
        if base is not None:
            self.modify(base, node)

    def expressions(self, nodes: Iterable[ast.AST]) -> None:
        for node in nodes:
            self.expression(node)

    def expression(self, node: ast.AST) -> None:
        for sub in walk_outer_scope(node):
            if isinstance(sub, ast.Name):
                if isinstance(sub.ctx, ast.Load):
                    self.read(sub.id, sub)
                elif isinstance(sub.ctx, ast.Store):  # a walrus
                    self.bind(sub.id, sub, surely=sub not in self._maybe_walrus)
            elif isinstance(
                sub, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
            ):
                # A walrus in a comprehension binds outside it, but only if the loop runs.
                self._maybe_walrus.update(walrus_targets(sub))
                for name in sorted(free_names(sub)):
                    self.read(name, sub)
            elif isinstance(sub, ast.Call):
                self._call(sub)
            elif isinstance(sub, ast.Await):
                self.names.awaits.append(self._pos(sub))

    def _call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "_mlops_expand":
            for argument in node.args:
                if isinstance(argument, ast.Lambda):
                    self.names.expanded.update(free_names(argument))
        if isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_CALLS:
            self.names.dynamic.append((self._pos(node), node.func.id + "()"))
        inplace = any(
            k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
        if inplace and isinstance(node.func, ast.Attribute):
            base = base_name(node.func.value)
            if base is not None:
                self.modify(base, node)

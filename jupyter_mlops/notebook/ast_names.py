"""Names and scopes in Python syntax trees: the building blocks of the block analysis.

What a name means to the analysis (a builtin, a dynamic call that hides names, a method that
only looks at an object, an internal name of ours) and small questions about one tree (its
base name, its free names, where a walrus binds). They stand apart from ``analysis`` because
they hold no state of a walk: each is a pure function of a tree, read on its own, and the
parser needs the builtin names without the walker.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator

BUILTIN_NAMES = frozenset(dir(builtins)) | {
    "__name__",
    "__file__",
    "__doc__",
    "__builtins__",
    "__spec__",
    "__loader__",
    "get_ipython",
    "display",
    "In",
    "Out",
    "exit",
    "quit",
}
DYNAMIC_CALLS = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__"})
# Methods called for display or a copy, not to change the object (keeps edges honest).
NON_MUTATING_METHODS = frozenset(
    {
        "head",
        "tail",
        "describe",
        "info",
        "summary",
        "plot",
        "hist",
        "show",
        "copy",
        "print",
        "to_csv",
        "to_json",
        "to_parquet",
        "savefig",
        "save",
        "value_counts",
        "sample",
        "count",
        "mean",
        "sum",
        "max",
        "min",
        "std",
        "nunique",
        "unique",
        "isna",
        "isnull",
        "corr",
    }
)
INTERNAL_PREFIX = "_mlops"


def base_name(node: ast.expr) -> str | None:
    """``x`` of ``x``, ``x.a.b``, ``x[1].c``; None for anything else (calls, literals)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def walk_outer_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Like ast.walk, but does not enter lambdas or comprehensions (yields them instead),
    except for a comprehension's first iterable, which runs in the outer scope."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, ast.Lambda):
            stack.extend(current.args.defaults)
            stack.extend(d for d in current.args.kw_defaults if d is not None)
            continue
        if isinstance(current, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            stack.append(current.generators[0].iter)
            stack.extend(walrus_targets(current))
            continue
        stack.extend(ast.iter_child_nodes(current))


def walrus_targets(node: ast.AST) -> list[ast.Name]:
    return [
        sub.target
        for sub in ast.walk(node)
        if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name)
    ]


def free_names(scope: ast.AST) -> set[str]:
    """Names a nested scope reads that it (and scopes inside it) never binds.

    Deliberately simple: a name bound anywhere inside counts as local everywhere inside.
    """
    loaded: set[str] = set()
    bound: set[str] = set()
    declared_global: set[str] = set()
    for sub in ast.walk(scope):
        if sub is not scope and isinstance(
            sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            bound.add(sub.name)
        if isinstance(sub, ast.Name):
            (loaded if isinstance(sub.ctx, ast.Load) else bound).add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, ast.alias):
            bound.add((sub.asname or sub.name).split(".")[0])
        elif isinstance(sub, ast.Global):
            declared_global.update(sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            bound.add(sub.name)
    for walrus in walrus_targets(scope):  # a walrus in a comprehension binds outside it
        bound.discard(walrus.id)
    return (loaded - bound) | (loaded & declared_global)


def assigns_in(scope: ast.AST, name: str) -> bool:
    return any(
        isinstance(sub, ast.Name) and sub.id == name and isinstance(sub.ctx, ast.Store)
        for sub in ast.walk(scope)
    )

"""Which metric names a run of a notebook (or of one of its functions) can record.

A run's metrics come from two places: the names assigned in ``mlops:metrics`` cells (the
Plan's metrics, known statically) and ``log_metric(name, value)`` calls made while it runs.
The second is decidable only when every call names its metric with a string literal and
nothing else the run executes could call it. So the answer is a set of names, or None
("cannot tell") when the code that runs:

- calls ``log_metric`` with a computed name, or uses ``log_metric`` other than by calling it
  (an alias passed around, ``getattr(module, "log_metric")``);
- calls ``exec``/``eval``/``compile``/``__import__``, imports ``importlib``, or has IPython
  syntax with no Python equivalent (``%run other.py``) or that does not parse;
- touches the run folder directly (``run_dir()``, ``JUPYTER_MLOPS_RUN_DIR``) or starts other
  programs (``!cmd``, ``subprocess``, ``os.system``), which inherit it;
- imports a module that lives next to the notebook (its own code may log metrics).

Installed packages are assumed not to call jupyter_mlops's runtime API.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from .source import STARTS_PROGRAMS, to_plain_python

LOGGER = "log_metric"
_DYNAMIC_CALLS = frozenset({"exec", "eval", "compile", "__import__"})
# the run folder, code loaded by name, and other programs (they inherit the run's folder)
_DYNAMIC_NAMES = frozenset(
    {"run_dir", "importlib", "runpy", "subprocess", "system", "popen", "execv", "execvp"}
    | STARTS_PROGRAMS  # the helpers that run '!cmd' and '%%bash' cells
)
_DYNAMIC_TEXT = ("JUPYTER_MLOPS_RUN_DIR", "metrics.jsonl", LOGGER)


def recordable_metrics(
    sources: Iterable[str], declared: Iterable[str], cwd: Path | None
) -> frozenset[str] | None:
    """The metric names these cells (as written) can record, or None if that is undecidable."""
    names = set(declared)
    for source in sources:
        plain = to_plain_python(source)
        if plain.untranslated:
            return None
        try:
            tree = ast.parse(plain.code)
        except SyntaxError:
            return None
        found = _logged_names(tree, cwd)
        if found is None:
            return None
        names |= found
    return frozenset(names)


def _logged_names(tree: ast.AST, cwd: Path | None) -> set[str] | None:
    aliases = {LOGGER}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            aliases |= {a.asname or a.name for a in node.names if a.name == LOGGER}
    names: set[str] = set()
    called: set[int] = set()  # ids of the nodes that are the callee of a literal call
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _callee(node.func)
            if target in _DYNAMIC_CALLS:
                return None
            if target in aliases or (isinstance(node.func, ast.Attribute) and target == LOGGER):
                name = _metric_name(node)
                if name is None:
                    return None
                names.add(name)
                called.add(id(node.func))
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and _imports_local(node, cwd):
            return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)) and id(node) not in called:
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in aliases or name == LOGGER or name in _DYNAMIC_NAMES:
                return None
        elif _dynamic(node, names):
            return None
    return names


def _dynamic(node: ast.AST, logged: set[str]) -> bool:
    """An import of importlib, or text naming the logger or the run folder."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        return any((module or "").split(".")[0] in _DYNAMIC_NAMES for module in modules)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value not in logged:
        return any(text in node.value for text in _DYNAMIC_TEXT)
    return False


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _metric_name(call: ast.Call) -> str | None:
    """The literal metric name of a ``log_metric`` call, or None when it is computed."""
    argument: ast.expr | None = call.args[0] if call.args else None
    for keyword in call.keywords:
        if keyword.arg == "name":
            argument = keyword.value
        elif keyword.arg is None:  # **options: the name may be in there
            return None
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    return None  # computed, or *args


def _imports_local(node: ast.Import | ast.ImportFrom, cwd: Path | None) -> bool:
    """Does this import a module kept next to the notebook (code the analysis cannot see)?"""
    if isinstance(node, ast.ImportFrom) and node.level:
        return True
    if cwd is None:
        return False
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for module in modules:
        top = module.split(".")[0]
        if top and ((cwd / f"{top}.py").is_file() or (cwd / top).is_dir()):
            return True
    return False

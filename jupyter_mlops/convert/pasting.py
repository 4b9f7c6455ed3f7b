"""The code of a runtime module, for pasting into generated code (one rule for every runtime).

``runtime_io`` (how values are stored between functions) and ``magic_runtime`` (what the
translated magics call) travel inside what the targets generate, so a generated module or
KFP component runs where jupyter_mlops is not installed. Each ends with its own
``runtime_source()``, which calls :func:`module_body`: everything after the module's docstring
and before that function is the pasted code.
"""

from __future__ import annotations

import ast
import inspect
import sys


def module_body(module_name: str, *, compact: bool = False) -> str:
    """The code of ``module_name`` between its docstring and ``def runtime_source``.

    ``compact`` drops docstrings, comments and blank lines: a KFP pipeline carries one copy
    per component in its YAML, and the YAML's size is what compiling it costs.
    """
    text = inspect.getsource(sys.modules[module_name])
    body = text.split('"""', 2)[2].lstrip("\n")
    body = body.split("\ndef runtime_source", 1)[0].rstrip() + "\n"
    if not compact:
        return body
    tree = ast.parse(body)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree) + "\n"

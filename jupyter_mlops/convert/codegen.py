"""Small, shared pieces of code generation.

The rule every generator follows: user *code* (cell sources) is emitted as code; user *text*
(names from tags, notebook names, help texts, default values) only ever appears as a
``repr`` literal checked back with ``ast.literal_eval``, or in a comment with its line
breaks removed.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path
from typing import Any

from ..errors import ConvertError
from ..notebook.plan import CellCode, Function, Plan


def literal(value: Any) -> str:
    """``repr(value)`` that is guaranteed to read back as the same value."""
    text = repr(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        same = False
    if not same:
        raise ConvertError(f"value {text[:60]!r} cannot be written as a Python literal")
    return text


def docstring(text: str) -> str:
    """A triple-quoted docstring where the text allows it, else a repr literal."""
    candidate = f'"""{text}"""'
    safe = '"""' not in text and "\\" not in text and not text.endswith('"')
    if safe and all(c.isprintable() or c == "\n" for c in text):
        try:
            if ast.literal_eval(candidate) == text:
                return candidate
        except (ValueError, SyntaxError):
            pass
    return literal(text)


def comment(text: str) -> str:
    """Text made safe for a ``#`` comment: one line, no control characters."""
    return "".join(c if c.isprintable() else " " for c in text).strip()


def indent_code(code: str, prefix: str = "    ") -> str:
    """Indent code without touching the inside of multi-line strings (their value would change)."""
    if not prefix:
        return code  # nothing to add: skip tokenizing (cell_block's default)
    lines = code.split("\n")
    if "\n" not in code or not any(m in code for m in ('"""', "'''", "\\\n", "\r")):
        # no string can span lines: skip tokenizing (most cells; a long notebook has many)
        return "\n".join(prefix + line if line.strip() else line for line in lines)
    inside_string: set[int] = set()  # 1-based line numbers that continue a string
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.STRING or token.type == getattr(
                tokenize, "FSTRING_MIDDLE", -1
            ):
                inside_string.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return "\n".join(
        line if (number in inside_string or not line.strip()) else prefix + line
        for number, line in enumerate(lines, start=1)
    )


def require_python(
    plan: Plan, *, setup_in_function: bool = False, hoist_star: bool = False
) -> None:
    """Plain-Python targets need every cell to parse, and no star import where the code
    ends up inside a ``def`` (Python forbids it there); say which cell breaks that.

    ``hoist_star``: the target can move a whole notebook's star imports to module level
    (``hoisted_star_imports`` says which it can move; the others are refused, with why).
    """
    inside: list[tuple[Function | None, CellCode]] = [
        (f, c) for f in plan.functions for c in f.cells if not c.error
    ]
    if setup_in_function:
        inside += [(None, c) for c in plan.setup if not c.error]
    for function, cell in inside:
        if not _has_star_import(cell.python):
            continue
        if function is not None and hoist_star and plan.whole_notebook:
            hoisted_star_imports(plan, cell)  # raises, saying why, if it cannot move
            continue
        where = f"function {function.name!r}" if function else "setup code"
        if hoist_star:
            fix = "put it in a mlops:setup cell (module level here) or import the names explicitly"
        else:
            fix = "this target runs each function on its own, so import the names explicitly"
        raise ConvertError(
            f"{where} uses 'from … import *', which Python does not allow inside a function; "
            + fix,
            notebook=plan.notebook,
            cell=cell.index,
        )
    for function in plan.functions:
        for cell in function.broken_cells:
            raise ConvertError(
                f"function {function.name!r} has a cell that does not parse as "
                f"Python: {cell.error}",
                notebook=plan.notebook,
                cell=cell.index,
            )
    for cell in plan.setup:
        if cell.error:
            raise ConvertError(
                f"a setup cell does not parse as Python: {cell.error}",
                notebook=plan.notebook,
                cell=cell.index,
            )
    if not plan.functions:
        raise ConvertError(
            "the notebook has no code to convert (no functions and no untagged code cells)",
            notebook=plan.notebook,
        )


def hoisted_star_imports(plan: Plan, cell: CellCode) -> list[tuple[int, int, str]]:
    """The star imports of a whole-notebook cell that can run at module level instead:
    (first line, last line, statement). Raises ConvertError, naming the cell and saying why,
    for one whose meaning would change there.

    Moving is safe for a statement of its own at the top level of the cell: the notebook
    runs it unconditionally, once, in the one namespace the whole notebook shares.
    """
    tree = ast.parse(cell.python)
    top = [node for node in tree.body if isinstance(node, ast.ImportFrom) and _is_star(node)]
    nested = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and _is_star(node) and node not in top
    ]
    if nested:
        raise ConvertError(
            f"'from … import *' on line {nested[0].lineno} is inside a block (if, try, with, "
            "loop or def): Python allows it only at module level, and moving it there would "
            "run it unconditionally; import the names explicitly",
            notebook=plan.notebook,
            cell=cell.index,
        )
    found = []
    for node in top:
        span = (node.lineno, node.end_lineno or node.lineno)
        if any(
            other is not node and other.lineno <= span[1] and span[0] <= (other.end_lineno or 0)
            for other in tree.body
        ):
            raise ConvertError(
                f"'from … import *' on line {node.lineno} shares its line with other code: "
                "put it on a line of its own so it can be moved to module level",
                notebook=plan.notebook,
                cell=cell.index,
            )
        found.append((span[0], span[1], ast.unparse(node)))
    return found


def _is_star(node: ast.AST) -> bool:
    return isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)


def _has_star_import(code: str) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)
        for node in ast.walk(ast.parse(code))
    )


def cell_block(cells: list[tuple[str, str]], prefix: str = "") -> str:
    """Cells as code, each under a ``# cell N`` comment: (label, plain-Python code) pairs."""
    parts = []
    for label, code in cells:
        body = code.strip("\n") or "pass"
        parts.append(f"{prefix}# {comment(label)}\n{indent_code(body, prefix)}")
    return "\n".join(parts)


def make_output_dir(path: Path, notebook: str) -> None:
    """Create the output folder, or say in one line why it cannot be one."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConvertError(f"output {path} exists and is not a folder", notebook=notebook) from None
    except PermissionError:
        raise ConvertError(f"no permission to create {path}", notebook=notebook) from None


def write_atomic(path: Path, text: str) -> None:
    """Write to a sibling temp file and rename, so a crash never leaves half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)

"""Content-hash versions: same code, same version, on any machine.

A function's version is the sha256 of a canonical JSON document holding its normalized code
(``ast.unparse``: comments and formatting do not count), the setup statements it uses (an
unrelated helper changing does not make a new version), the schema of the parameters it
reads (name, type, default), its inputs and outputs, and the modules it imports.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable

from .analysis import statement_names
from .parameters import Parameter
from .plan import Function


def normalize(code: str) -> str:
    """Code without comments or formatting: the part that changes behaviour."""
    return ast.unparse(ast.parse(code))


def split_setup(cells: Iterable[str]) -> list[tuple[str, set[str], set[str]]]:
    """Setup code as top-level statements: (normalized text, names bound, names read)."""
    statements = []
    for code in cells:
        for node in ast.parse(code).body:
            binds, reads = statement_names(node)
            statements.append((ast.unparse(node), binds, reads))
    return statements


def setup_used(reads: set[str], statements: list[tuple[str, set[str], set[str]]]) -> list[int]:
    """Numbers of the setup statements a function needs: what defines the names it reads,
    what those need in turn, and every statement that binds nothing (side effects)."""
    needed = set(reads)
    chosen: set[int] = set()
    changed = True
    while changed:
        changed = False
        for number, (_, binds, statement_reads) in enumerate(statements):
            if number not in chosen and (not binds or binds & needed):
                chosen.add(number)
                needed |= statement_reads
                changed = True
    return sorted(chosen)


def function_version(
    function: Function,
    parameters: list[Parameter],
    setup_statements: list[str],
) -> str:
    document = {
        "code": [cell.error or normalize(cell.python) for cell in function.cells],
        "definitions": [code for _, code in function.definitions],
        "setup": [setup_statements[number] for number in function.setup_used],
        "parameters": [
            {"name": p.name, "type": str(p.type), "default": p.default}
            for p in parameters
            if p.name in function.parameters
        ],
        "inputs": function.data_inputs,
        "outputs": function.outputs,
        "imports": sorted(function.imports),
    }
    text = json.dumps(document, sort_keys=True, ensure_ascii=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

"""The parameters cell: typed, documented, literal assignments.

``alpha: float = 0.5  # learning rate`` declares a parameter with a name, a type, a default
and a help text. Without an annotation the type comes from the literal. Supported types are
the ones every surface can carry (CLI text, JSON, KFP pipeline parameters)::

    int  float  str  bool  list  dict  tuple  Any
    list[T]  dict[str, T]  tuple[T, ...]  Literal['a', 'b']  T | None  Optional[T]

Values are checked against the type whenever a run, a form or a conversion supplies them;
an ``int`` is accepted (and converted) where a ``float`` is declared.
"""

from __future__ import annotations

import ast
import io
import json
import keyword
import math
import tokenize
from dataclasses import dataclass
from typing import Any

from ..errors import TagError

BASE_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
}
TYPING_ALIASES = {"List": "list", "Dict": "dict", "Tuple": "tuple"}
RESERVED_PREFIX = "mlops_"


@dataclass(frozen=True)
class ParamType:
    """A parameter's type; ``str(t)`` is its canonical annotation text."""

    kind: str  # int float str bool list dict tuple any literal
    args: tuple[ParamType, ...] = ()
    choices: tuple[Any, ...] = ()
    optional: bool = False

    def __str__(self) -> str:
        if self.kind == "literal":
            text = f"Literal[{', '.join(repr(c) for c in self.choices)}]"
        elif self.kind == "any":
            return "Any"
        elif self.args:
            inner = ", ".join(str(arg) for arg in self.args)
            text = f"{self.kind}[{inner}, ...]" if self.kind == "tuple" else f"{self.kind}[{inner}]"
        else:
            text = self.kind
        return f"{text} | None" if self.optional else text

    @property
    def base(self) -> str:
        """The JSON-level kind: what a KFP parameter or an HTML form field can be."""
        if self.kind == "literal":
            return type(self.choices[0]).__name__ if self.choices else "str"
        return self.kind

    def check(self, value: Any, *, where: str = "value") -> Any:
        """Return ``value`` (an int widened to float where needed) or raise ValueError."""
        if value is None:
            if self.optional or self.kind == "any":
                return None
            raise ValueError(f"{where}: expected {self}, got None")
        if self.kind == "any":
            return value
        if self.kind == "literal":
            if value in self.choices and type(value) in {type(c) for c in self.choices}:
                return value
            raise ValueError(f"{where}: expected one of {list(self.choices)!r}, got {value!r}")
        if self.kind == "float" and type(value) is int:
            return float(value)
        if self.kind == "tuple" and type(value) is list:  # JSON and the CLI carry lists
            value = tuple(value)
        expected = BASE_TYPES[self.kind]
        if type(value) is not expected and not (self.kind == "list" and type(value) is tuple):
            raise ValueError(
                f"{where}: expected {self}, got {type(value).__name__} {_short(value)}"
            )
        if self.kind == "float" and math.isnan(value):
            raise ValueError(f"{where}: NaN is not a valid float parameter value")
        if self.kind in {"list", "tuple"} and self.args:
            items = [self.args[0].check(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
            return expected(items)
        if self.kind == "dict" and len(self.args) == 2:
            return {
                self.args[0].check(k, where=f"{where} key"): self.args[1].check(
                    v, where=f"{where}[{k!r}]"
                )
                for k, v in value.items()
            }
        return value

    def parse_text(self, text: str, *, where: str = "value") -> Any:
        """A value typed on a command line or in a form, as this type."""
        if self.optional and text in {"None", "null"}:
            return None
        kind = self.base
        try:
            if kind == "str" or (self.kind == "any" and not _looks_literal(text)):
                value: Any = text
            elif kind == "bool":
                value = _parse_bool(text)
            elif kind == "int":
                value = int(text)
            elif kind == "float":
                value = float(text)
            else:
                value = _parse_literal(text)
        except ValueError:
            raise ValueError(f"{where}: expected {self}, got {_short(text)}") from None
        return self.check(value, where=where)


@dataclass(frozen=True)
class Parameter:
    """A notebook parameter: ``name: type = default  # help``."""

    name: str
    type: ParamType
    default: Any
    help: str
    cell: int
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": str(self.type),
            "default": self.default,
            "help": self.help,
        }


@dataclass(frozen=True)
class KeptStatement:
    """A statement of a parameters cell that is not a literal assignment (an ``import``, a
    computed value, a call): it stays as code and runs, with the defaults, before the
    functions, as papermill runs the whole cell before the values it injects."""

    line: int
    text: str
    binds: frozenset[str]


@dataclass(frozen=True)
class ParametersCell:
    """What one parameters cell declares, and what of it stays as code."""

    parameters: list[Parameter]
    kept: list[KeptStatement]


def kept_statement_warning(kept: KeptStatement) -> str:
    """What a parameters cell's code becomes, and what to change, in one warning."""
    first = kept.text.splitlines()[0]
    where = f"parameters cell line {kept.line}: `{first}`"
    if first.startswith(("import ", "from ")):
        return (
            f"{where} stays as code and runs before the functions, as papermill runs it; "
            "move it to an mlops:setup cell to say so"
        )
    return (
        f"{where} is not a literal assignment: it stays as code, runs with the defaults "
        "before the functions (as papermill runs it before the values it injects) and "
        "cannot be given a value; make it a literal to make it a parameter"
    )


def parse_parameters(cell: int, code: str, *, notebook: str | None = None) -> list[Parameter]:
    """The parameters declared in one parameters cell (plain-Python code)."""
    return read_parameters_cell(cell, code, notebook=notebook).parameters


def read_parameters_cell(cell: int, code: str, *, notebook: str | None = None) -> ParametersCell:
    """The literal assignments of one parameters cell as typed parameters; every other
    statement kept as code (``KeptStatement``)."""
    from .analysis import statement_names

    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise TagError(
            f"the parameters cell does not parse: {err.msg} (line {err.lineno})",
            notebook=notebook,
            cell=cell,
        ) from None
    comments = _comments_by_line(code)
    found: dict[str, Parameter] = {}
    kept: list[KeptStatement] = []
    for statement in tree.body:
        literal_assignment = _literal_assignment(statement)
        if literal_assignment is None:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue  # a string or a number on its own line: it does nothing
            binds, _reads = statement_names(statement)
            text = ast.get_source_segment(code, statement) or ast.unparse(statement)
            kept.append(KeptStatement(statement.lineno, text, frozenset(binds)))
            continue
        name, annotation, value = literal_assignment
        check_name(name, notebook=notebook, cell=cell)
        if name in found:
            raise TagError(
                f"parameter {name!r} is assigned twice (lines {found[name].line} and "
                f"{statement.lineno})",
                notebook=notebook,
                cell=cell,
            )
        where = f"parameter {name!r}"
        try:
            if annotation is None:
                param_type = infer_type(value, where=where)
            else:
                param_type = parse_annotation(annotation)
            value = param_type.check(value, where=f"{where} default")
        except ValueError as err:
            raise TagError(str(err), notebook=notebook, cell=cell) from None
        help_text = comments.get(statement.end_lineno or statement.lineno) or _comment_above(
            comments, statement.lineno, code
        )
        found[name] = Parameter(name, param_type, value, help_text, cell, statement.lineno)
    for statement_kept in kept:
        overwritten = sorted(statement_kept.binds & set(found))
        if overwritten:
            name = overwritten[0]
            raise TagError(
                f"parameter {name!r} (line {found[name].line}) is also assigned by code on "
                f"line {statement_kept.line} ({statement_kept.text.splitlines()[0]!r}): a run "
                "gives a parameter its value after the whole cell, so that code could not "
                "change it",
                notebook=notebook,
                cell=cell,
                hint="compute derived values under another name, or in a function cell",
            )
    return ParametersCell(list(found.values()), kept)


def _literal_assignment(statement: ast.stmt) -> tuple[str, ast.expr | None, Any] | None:
    """(name, annotation, value) of ``name = <literal>`` or ``name: T = <literal>``."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, annotation, value_node = statement.targets[0], None, statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, annotation, value_node = statement.target, statement.annotation, statement.value
    else:
        return None
    if not isinstance(target, ast.Name):
        return None
    try:
        value = ast.literal_eval(value_node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return target.id, annotation, value


def check_name(name: str, *, notebook: str | None = None, cell: int | None = None) -> None:
    """A parameter name must be an identifier, not a keyword, not one of ours."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise TagError(
            f"{name!r} is not a valid parameter name (it must be a Python "
            "identifier and not a keyword)",
            notebook=notebook,
            cell=cell,
        )
    if name.startswith(RESERVED_PREFIX):
        raise TagError(
            f"parameter names starting with {RESERVED_PREFIX!r} are reserved ({name!r})",
            notebook=notebook,
            cell=cell,
        )


def infer_type(value: Any, *, where: str = "value") -> ParamType:
    if value is None:
        return ParamType("any", optional=True)
    name = type(value).__name__
    if name in BASE_TYPES:
        return ParamType(name)
    raise ValueError(
        f"{where}: values of type {name} cannot be parameters; use int, float, "
        "str, bool, list, dict or tuple"
    )


def parse_annotation(node: ast.expr | str) -> ParamType:
    """An annotation (AST or text) as a ParamType; ValueError names what is unsupported."""
    if isinstance(node, str):
        try:
            node = ast.parse(node, mode="eval").body
        except SyntaxError:
            raise ValueError(f"type {node!r} does not parse") from None
    text = ast.unparse(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return parse_annotation(node.value)  # a string annotation: "float"
    if isinstance(node, ast.Constant) and node.value is None:
        return ParamType("any", optional=True)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _optional([node.left, node.right], text)
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        name = TYPING_ALIASES.get(name, name)
        if name in BASE_TYPES:
            return ParamType(name)
        if name in {"Any", "None", "NoneType"}:
            return ParamType("any", optional=True)
    if isinstance(node, ast.Subscript):
        head = TYPING_ALIASES.get(_dotted(node.value), _dotted(node.value))
        items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional" and len(items) == 1:
            return _optional([items[0], ast.Constant(None)], text)
        if head == "Union":
            return _optional(items, text)
        if head == "Literal":
            choices = tuple(ast.literal_eval(item) for item in items)
            return ParamType("literal", choices=choices)
        if head == "list" and len(items) == 1:
            return ParamType("list", (parse_annotation(items[0]),))
        if head == "tuple" and len(items) == 2 and _is_ellipsis(items[1]):
            return ParamType("tuple", (parse_annotation(items[0]),))
        if head == "dict" and len(items) == 2:
            return ParamType("dict", (parse_annotation(items[0]), parse_annotation(items[1])))
    raise ValueError(
        f"type {text!r} is not supported for parameters; use int, float, str, bool, list, dict, "
        "tuple, Literal[...] or Optional[...] of those"
    )


def _optional(members: list[ast.expr], text: str) -> ParamType:
    rest = [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
    if len(rest) != 1 or len(members) - len(rest) != 1:
        raise ValueError(f"type {text!r} is not supported; only 'T | None' unions are")
    inner = parse_annotation(rest[0])
    return ParamType(inner.kind, inner.args, inner.choices, optional=True)


def _dotted(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text.split(".")[-1] if text.startswith(("typing.", "t.")) else text


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _comments_by_line(code: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return comments


def _comment_above(comments: dict[int, str], line: int, code: str) -> str:
    """A full-line comment directly above an assignment documents it too."""
    lines = code.splitlines()
    above = line - 1
    if above >= 1 and above in comments and lines[above - 1].lstrip().startswith("#"):
        return comments[above]
    return ""


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise ValueError(text)


def _parse_literal(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # 10,000-deep "[[[…": literal_eval says no
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(text) from None


def _looks_literal(text: str) -> bool:
    try:
        _parse_literal(text)
    except ValueError:
        return False
    return True


def _short(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:  # repr past 4,300 digits raises
        return f"an integer of about {round(value.bit_length() * math.log10(2))} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

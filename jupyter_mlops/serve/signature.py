"""What a served function takes and gives: one rule for the request schema, the OpenAPI
document, the deployment view and the loader.

Two forms. When a function's cells define exactly one top-level ``def`` whose parameters are
all annotated (``def predict(tenure_months: int, charges: float, contract_type: str = "monthly")
-> dict``), that def is served: its parameters are the request fields (a parameter with a
default may be left out, and the def's own default applies), the names it uses from earlier
functions (the trained ``model``, the ``scaler``) are bound from the run that produced them,
and the response is what it returns. Otherwise the function itself is served: the fields are
the notebook parameters its cells read, and the response holds its outputs by name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..errors import MLOpsError
from ..notebook.parameters import Parameter, ParamType, parse_annotation
from ..notebook.plan import Function, Plan

NO_DEFAULT = object()


@dataclass(frozen=True)
class Field:
    """One request field: its parameter (name, type, default, help) and whether it must come."""

    parameter: Parameter
    required: bool

    @property
    def name(self) -> str:
        return self.parameter.name


@dataclass(frozen=True)
class Signature:
    fields: tuple[Field, ...]
    outputs: tuple[str, ...]  # by name (the function form); empty for a def
    typed_def: str | None = None  # the def served, when it is one
    returns: ParamType | None = None  # its return annotation, when supported
    returns_text: str | None = None  # the annotation as written

    def field_dicts(self) -> list[dict[str, object]]:
        return [{**f.parameter.to_dict(), "required": f.required} for f in self.fields]


def served_signature(plan: Plan, function: Function, *, use_defaults: bool = False) -> Signature:
    """The request fields and the response of ``function`` as a deployment serves it."""
    found = typed_def(plan, function)
    if found is None:
        fields = tuple(
            Field(plan.parameter(name), not use_defaults) for name in function.parameters
        )
        return Signature(fields, tuple(function.outputs))
    cell, node = found
    returns_text = ast.unparse(node.returns) if node.returns is not None else None
    returns = None
    if node.returns is not None:
        try:
            returns = parse_annotation(node.returns)
        except ValueError:
            returns = None  # a class or a model type: the response is whatever it returns
    return Signature(
        tuple(_def_fields(plan, function, cell, node)), (), node.name, returns, returns_text
    )


def typed_def(plan: Plan, function: Function) -> tuple[int, ast.FunctionDef] | None:
    """The one fully annotated top-level def of the function's cells (cell index, node)."""
    defs: list[tuple[int, ast.FunctionDef]] = []
    for cell in function.cells:
        try:
            tree = ast.parse(cell.python)
        except SyntaxError:
            return None  # the parser reports it; nothing to serve as a def
        defs += [(cell.index, n) for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(defs) != 1:
        return None
    node = defs[0][1]
    arguments = node.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    if not every or arguments.vararg or arguments.kwarg:
        return None
    if any(argument.annotation is None for argument in every):
        return None
    return defs[0]


def _def_fields(plan: Plan, function: Function, cell: int, node: ast.FunctionDef) -> list[Field]:
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    defaults += list(arguments.defaults)
    pairs = list(zip(positional, defaults, strict=True))
    pairs += list(zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True))
    fields = []
    for argument, default in pairs:
        assert argument.annotation is not None  # typed_def checked
        where = f"parameter {argument.arg!r} of {node.name}() in cell {cell}"
        try:
            kind = parse_annotation(argument.annotation)
        except ValueError as err:
            raise MLOpsError(
                f"{where}: {err}",
                notebook=plan.notebook,
                cell=cell,
                hint="annotate request fields with int, float, str, bool, list, dict, "
                "Literal[...] or Optional[...] of those",
            ) from None
        value: object = NO_DEFAULT
        if default is not None:
            try:
                value = ast.literal_eval(default)
            except ValueError:
                value = None  # computed: the def's own default applies when left out
        parameter = Parameter(
            name=argument.arg,
            type=kind,
            default=None if value is NO_DEFAULT else value,
            help="",
            cell=cell,
            line=argument.lineno,
        )
        fields.append(Field(parameter, required=value is NO_DEFAULT))
    return fields

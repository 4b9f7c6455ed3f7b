"""Request bodies: one JSON object of parameters, or a list of them (a batch).

Each field is checked with the same rules as a run's parameters (``execute/params.py``):
a wrong type, a missing field or an unknown one is a RequestError naming the field
(``x``, or ``[3].x`` inside a batch) that the app answers with 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError
from ..execute.params import check_value
from ..json_input import JSONInputError, loads
from ..notebook.parameters import Parameter
from ..notebook.plan import Function, Plan
from .signature import Field, served_signature


class RequestError(Exception):
    """The client's mistake: an HTTP status, a message and the field it concerns."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class RequestSchema:
    """The parameters a request carries, and whether those with a default may be left out."""

    plan: Plan
    fields: tuple[Field, ...]
    max_batch: int
    names: frozenset[str]
    # a typed def's optional field left out is left to the def's own default
    omit_missing: bool

    @classmethod
    def of(cls, plan: Plan, function: Function, *, use_defaults: bool, max_batch: int) -> Any:
        signature = served_signature(plan, function, use_defaults=use_defaults)
        names = frozenset(field.name for field in signature.fields)
        typed = signature.typed_def is not None
        return cls(plan, signature.fields, max_batch, names, typed)

    def parse(self, body: bytes) -> tuple[list[dict[str, Any]], bool]:
        """The checked parameter sets, and whether the body was a batch."""
        data = parse_json(body)
        if isinstance(data, dict):
            return [self.check(data, "")], False
        if isinstance(data, list):
            if not data:
                raise RequestError(400, "an empty batch: send a list of at least one object")
            if len(data) > self.max_batch:
                raise RequestError(
                    413, f"a batch of {len(data)} objects; at most {self.max_batch} are allowed"
                )
            return [self.check(item, f"[{i}]") for i, item in enumerate(data)], True
        raise RequestError(
            400, f"expected a JSON object (or a list of objects), got {_json_type(data)}"
        )

    def check(self, data: Any, where: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise RequestError(
                400, f"{where or 'body'}: expected an object, got {_json_type(data)}"
            )
        known = self.names
        for name in data:
            if name not in known:
                field = f"{where}.{name}" if where else name
                listed = ", ".join(sorted(known)) or "none"
                raise RequestError(400, f"unknown field {field!r} (fields: {listed})", field)
        values: dict[str, Any] = {}
        for field in self.fields:
            parameter = field.parameter
            name = parameter.name
            if name in data:
                try:
                    # the type's own check (no message built unless it fails) ...
                    values[name] = parameter.type.check(data[name])
                except ValueError:
                    # ... and on failure the message a run's parameter gets
                    self._fail(parameter, data[name], f"{where}.{name}" if where else name)
            elif not field.required:
                if not self.omit_missing:
                    values[name] = parameter.default
            else:
                path = f"{where}.{name}" if where else name
                raise RequestError(400, f"missing field {path!r} (expected {parameter.type})", path)
        return values

    def _fail(self, parameter: Parameter, value: Any, field: str) -> None:
        try:
            check_value(self.plan, parameter, value)
        except ParameterError as err:
            raise RequestError(400, f"field {field!r}: {_reason(err.message)}", field) from None
        raise RequestError(400, f"field {field!r}: not a valid {parameter.type}", field)


async def read_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]], declared: bytes | None, limit: int
) -> bytes:
    """The whole body, at most ``limit`` bytes (``declared``: the Content-Length header)."""
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise RequestError(400, "Content-Length is not a number") from None
        if size > limit:
            raise RequestError(413, f"the body is {size} bytes; at most {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "the client went away before sending the body")
        chunk: bytes = message.get("body", b"")
        if not chunks and not message.get("more_body", False) and len(chunk) <= limit:
            return chunk  # the usual case: the body in one message
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is more than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """JSON as RFC 8259 has it (UTF-8, no NaN or Infinity), read as every surface reads a
    client's JSON (``json_input``): out-of-range numbers, deep nesting and lone surrogates
    are refused naming the field."""
    try:
        return loads(body)
    except JSONInputError as err:
        raise RequestError(400, err.message, err.field) from None


def _reason(message: str) -> str:
    # check_value says "parameter 'x': expected float, got str 'abc'"; keep what follows.
    return message.split(": ", 1)[1] if message.startswith("parameter ") else message


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")

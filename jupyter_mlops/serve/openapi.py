"""The endpoint's OpenAPI 3.1 document, generated from the function's parameters and outputs."""

from __future__ import annotations

from typing import Any

from ..notebook.parameters import ParamType
from ..notebook.plan import Function, Plan
from .signature import served_signature

_BASE = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}


def type_schema(param_type: ParamType) -> dict[str, Any]:
    """The JSON Schema of values a parameter of this type accepts."""
    schema: dict[str, Any]
    if param_type.kind == "any":
        return {}
    if param_type.kind == "literal":
        schema = {"enum": list(param_type.choices)}
    elif param_type.kind in _BASE:
        schema = {"type": _BASE[param_type.kind]}
    elif param_type.kind in ("list", "tuple"):
        schema = {"type": "array"}
        if param_type.args:
            schema["items"] = type_schema(param_type.args[0])
    else:  # dict
        schema = {"type": "object"}
        if len(param_type.args) == 2:
            schema["additionalProperties"] = type_schema(param_type.args[1])
    if param_type.optional:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def document(plan: Plan, function: Function, *, use_defaults: bool, max_batch: int) -> Any:
    signature = served_signature(plan, function, use_defaults=use_defaults)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in signature.fields:
        parameter = field.parameter
        schema = {**type_schema(parameter.type), "x-python-type": str(parameter.type)}
        if parameter.help:
            schema["description"] = parameter.help
        if field.required:
            required.append(parameter.name)
        elif parameter.default is not None or signature.typed_def is None:
            schema["default"] = parameter.default
        properties[parameter.name] = schema
    inputs = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        inputs["required"] = required
    outputs: dict[str, Any]
    if signature.typed_def is not None:
        outputs = type_schema(signature.returns) if signature.returns is not None else {}
        outputs = {
            **outputs,
            "description": f"what {signature.typed_def}() returns"
            + (f" ({signature.returns_text})" if signature.returns_text else ""),
        }
    else:
        outputs = {
            "type": "object",
            "properties": {
                name: {"description": f"the value of {name}"} for name in function.outputs
            },
            "required": list(function.outputs),
        }
    error = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": ["string", "null"]},
            "id": {"type": "string", "description": "error id, also in the deployment log"},
        },
        "required": ["error", "message"],
    }
    responses = {
        "200": _json(
            "the outputs (a list of them for a batch)",
            {
                "oneOf": [
                    {"$ref": "#/components/schemas/Outputs"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Outputs"}},
                ]
            },
        ),
        **{
            code: _json(text, {"$ref": "#/components/schemas/Error"})
            for code, text in (
                ("400", "a field is missing, unknown or of the wrong type; the body is not JSON"),
                ("401", "no bearer token, or a wrong one"),
                ("413", f"the body is too large, or a batch has more than {max_batch} objects"),
                ("500", "the function raised, or an output cannot be sent as JSON"),
                ("504", "the function did not finish within the request timeout"),
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{function.name} ({plan.notebook})",
            "version": function.version,
            "description": function.doc or f"The function {function.name} of {plan.notebook}.",
        },
        "paths": {
            "/invoke": {
                "post": {
                    "operationId": "invoke",
                    "summary": f"Call {function.name}",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Inputs"},
                                        {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Inputs"},
                                            "minItems": 1,
                                            "maxItems": max_batch,
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": responses,
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness and request statistics (no token needed)",
                    "security": [],
                    "responses": {"200": _json("the process is serving", {"type": "object"})},
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [{"bearer": []}],
                    "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
                }
            },
        },
        "components": {
            "schemas": {"Inputs": inputs, "Outputs": outputs, "Error": error},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}

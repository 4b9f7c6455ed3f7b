"""Tolerant reading: repair what nbformat repairs, and name the property of what it cannot.

Jupyter opens notebooks that the strict v4 schema refuses: a 4.4 notebook whose cells carry
ids, a markdown cell with ``outputs``, an extra top-level key that Colab writes. nbformat's
validator removes such properties in its tolerant mode (``nbformat.validator.normalize``);
we do the same with the schema's own lists of allowed properties, so the rule stays nbformat's,
and log one warning per (notebook, property) so the user knows what was ignored.

When a notebook is still invalid, fastjsonschema reports ``cells[0] must be valid exactly by
one definition`` for the cells' ``oneOf``; :func:`cell_errors` validates the failing cell
against its own cell type's definition, so the message names the cell and the property.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_CELL_TYPES = ("code", "markdown", "raw")


def repair(content: dict[str, Any], schema: dict[str, Any], name: str) -> list[str]:
    """Drop the properties the schema does not allow where nbformat drops them.

    Returns the dropped property paths (``cells[2].outputs``); one warning names them.
    """
    dropped: list[str] = []
    allowed_top = set(schema.get("properties", {}))
    for key in [key for key in content if key not in allowed_top]:
        del content[key]
        dropped.append(key)
    definitions = schema.get("definitions", {})
    for index, cell in enumerate(content.get("cells") or []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in _CELL_TYPES:
            continue
        definition = definitions.get(f"{cell['cell_type']}_cell", {})
        allowed = set(definition.get("properties", {}))
        for key in [key for key in cell if key not in allowed]:
            del cell[key]
            dropped.append(f"cells[{index}].{key}")
    if dropped:
        kinds = sorted({path.rsplit(".", 1)[-1] for path in dropped})
        logger.warning(
            "%s: ignored %s not allowed by nbformat %s.%s (as Jupyter does): %s",
            name,
            "properties" if len(kinds) > 1 else "property",
            content.get("nbformat"),
            content.get("nbformat_minor"),
            ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""),
        )
    return dropped


def cell_errors(content: dict[str, Any], schema_file: Path) -> str | None:
    """The first schema error of a cell, as ``cells[3].source: ...``; None if cells are fine."""
    import fastjsonschema

    for index, cell in enumerate(content.get("cells") or []):
        if not isinstance(cell, dict) or cell.get("cell_type") not in _CELL_TYPES:
            continue
        validate = _cell_validator(str(schema_file), str(cell["cell_type"]))
        try:
            validate(cell)
        except fastjsonschema.JsonSchemaException as err:
            message = str(getattr(err, "message", err))
            if message.startswith("data."):
                return f"cells[{index}].{message[len('data.') :]}"
            return f"cells[{index}]: {message.replace('data ', 'the cell ', 1)}"
    return None


@functools.lru_cache(maxsize=16)
def _cell_validator(schema_file: str, cell_type: str) -> Callable[[Any], Any]:
    import fastjsonschema

    schema = json.loads(Path(schema_file).read_text(encoding="utf-8"))
    sub = {"$ref": f"#/definitions/{cell_type}_cell", "definitions": schema["definitions"]}
    validator: Callable[[Any], Any] = fastjsonschema.compile(sub)
    return validator

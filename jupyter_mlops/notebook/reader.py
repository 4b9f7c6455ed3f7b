"""Read a notebook (a path, JSON text or an in-memory dict) into checked nbformat v4 content.

We validate against nbformat's own JSON schema with fastjsonschema instead of importing
``nbformat``: in a full Jupyter environment ``import nbformat`` pulls in jsonschema's format
checkers and costs about a second, more than parsing and converting a 200-step notebook.
Only pre-v4 notebooks take the slow path through ``nbformat.convert``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotebookFormatError

NOTEBOOK_SOURCE = str | os.PathLike[str] | Mapping[str, Any]


@dataclass(frozen=True)
class NotebookSource:
    """A validated notebook and the name errors should call it by."""

    content: dict[str, Any]
    name: str
    path: Path | None = None

    @property
    def cells(self) -> list[dict[str, Any]]:
        cells: list[dict[str, Any]] = self.content["cells"]
        return cells

    @property
    def stem(self) -> str:
        return Path(self.name).stem or "notebook"


def read_notebook(source: NOTEBOOK_SOURCE, *, name: str | None = None) -> NotebookSource:
    """Load and validate a notebook from a path or from already-parsed content."""
    if isinstance(source, Mapping):
        content = json.loads(json.dumps(source))  # a private, plain-dict copy
        return _checked(content, name or "notebook.ipynb", None)
    if not isinstance(source, (str, os.PathLike)):
        raise NotebookFormatError(
            "is not a notebook: the top level must be an object", notebook=name or "notebook"
        )
    path = Path(source)
    label = name or str(source)
    from ..paths import read_regular_file

    try:  # a FIFO or device is refused before it is opened for reading (it could block)
        text = read_regular_file(path).decode("utf-8")
    except FileNotFoundError:
        raise NotebookFormatError("no such notebook", notebook=label) from None
    except IsADirectoryError:
        raise NotebookFormatError("is a directory, not a notebook", notebook=label) from None
    except UnicodeDecodeError as err:
        raise NotebookFormatError(f"is not UTF-8 text (byte {err.start})", notebook=label) from None
    except OSError as err:  # a symbolic-link loop, a name too long, no permission
        raise NotebookFormatError(f"cannot be read: {err.strerror}", notebook=label) from None
    return read_notebook_text(text, name=label, path=path)


def read_notebook_text(text: str, *, name: str, path: Path | None = None) -> NotebookSource:
    """Parse notebook JSON text; errors name the line and column."""
    try:
        content = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotebookFormatError(
            f"is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
            notebook=name,
        ) from None
    except RecursionError:  # a file of 10,000 nested arrays: json's own limit
        raise NotebookFormatError(
            "is not a notebook: its JSON nests too deeply", notebook=name
        ) from None
    return _checked(content, name, path)


def _checked(content: Any, name: str, path: Path | None) -> NotebookSource:
    if not isinstance(content, dict):
        raise NotebookFormatError(
            "is not a notebook: the top level must be an object", notebook=name
        )
    major = content.get("nbformat")
    if not isinstance(major, int):
        raise NotebookFormatError("is not a notebook: 'nbformat' is missing", notebook=name)
    if major < 4:
        content = _upgrade(content, name)
    elif major > 4:
        raise NotebookFormatError(
            f"uses nbformat {major}, newer than this version of jupyter-mlops reads",
            notebook=name,
        )
    _validate_v4(content, name)
    _require_python(content, name)
    return NotebookSource(content=content, name=name, path=path)


def _upgrade(content: dict[str, Any], name: str) -> dict[str, Any]:
    import nbformat  # slow import, only for notebooks older than v4

    try:
        node = nbformat.from_dict(content)  # type: ignore[no-untyped-call]
        node = nbformat.convert(node, 4)  # type: ignore[no-untyped-call]
        upgraded: dict[str, Any] = json.loads(json.dumps(node))
    except Exception as err:
        raise NotebookFormatError(
            f"cannot be upgraded to nbformat 4: {err}", notebook=name
        ) from None
    return upgraded


def _validate_v4(content: dict[str, Any], name: str) -> None:
    _check_cells(content, name)
    minor = content.get("nbformat_minor")
    schema_file = _schema_file(minor if isinstance(minor, int) else 5)
    validate = _schema_validator(schema_file)
    import fastjsonschema

    from .repair import cell_errors, repair

    repair(content, _schema(schema_file), name)
    try:
        validate(content)
    except fastjsonschema.JsonSchemaException as err:
        message = cell_errors(content, schema_file) or _schema_message(err)
        raise NotebookFormatError(
            f"is not a valid nbformat 4 notebook: {message}", notebook=name
        ) from None


def _check_cells(content: dict[str, Any], name: str) -> None:
    """The mistakes people make by hand, with better words than the schema's ``oneOf``."""
    cells = content.get("cells")
    if not isinstance(cells, list):
        raise NotebookFormatError("is not a notebook: 'cells' must be a list", notebook=name)
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NotebookFormatError("is not an object", notebook=name, cell=index)
        if cell.get("cell_type") not in {"code", "markdown", "raw"}:
            raise NotebookFormatError(
                f"cell_type {cell.get('cell_type')!r} is not code, markdown or raw",
                notebook=name,
                cell=index,
            )
        source = cell.get("source")
        if not isinstance(source, str) and not (
            isinstance(source, list) and all(isinstance(line, str) for line in source)
        ):
            raise NotebookFormatError(
                "'source' must be a string or a list of strings", notebook=name, cell=index
            )
        tags = (cell.get("metadata") or {}).get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise NotebookFormatError(
                "metadata.tags must be a list of strings", notebook=name, cell=index
            )
        # nbformat 4.5 wants cell ids; old tools omit them and nbformat itself adds them.
        if content.get("nbformat_minor", 0) >= 5 and "id" not in cell:
            cell["id"] = f"cell-{index}"
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        cell.setdefault("metadata", {})


def _schema_message(err: Any) -> str:
    """fastjsonschema says 'data.cells[3].source must be ...'; speak of fields instead."""
    message = str(getattr(err, "message", err))
    return message.replace("data.", "", 1).replace("data ", "the notebook ", 1)


@functools.lru_cache(maxsize=8)
def _schema_file(minor: int) -> Path:
    spec = importlib.util.find_spec("nbformat")
    if spec is None or not spec.submodule_search_locations:
        raise NotebookFormatError("nbformat is not installed; pip install nbformat")
    folder = Path(next(iter(spec.submodule_search_locations))) / "v4"
    schema_file = folder / f"nbformat.v4.{min(max(minor, 0), 5)}.schema.json"
    if not schema_file.exists():
        schema_file = folder / "nbformat.v4.schema.json"
    return schema_file


@functools.lru_cache(maxsize=8)
def _schema(schema_file: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    return schema


@functools.lru_cache(maxsize=8)
def _schema_validator(schema_file: Path) -> Callable[[Any], Any]:
    import fastjsonschema

    validator: Callable[[Any], Any] = fastjsonschema.compile(_schema(schema_file))
    return validator


def _require_python(content: dict[str, Any], name: str) -> None:
    """A notebook with no kernel information is taken to be Python, as Jupyter does."""
    metadata = content.get("metadata", {})
    kernelspec = metadata.get("kernelspec") or {}
    language = (
        kernelspec.get("language") or (metadata.get("language_info") or {}).get("name") or "python"
    )
    if str(language).lower() not in {"python", "python3", "ipython", "ipython3"}:
        kernel = kernelspec.get("name") or kernelspec.get("display_name") or language
        raise NotebookFormatError(
            f"uses the {language!s} kernel {kernel!r}; only Python notebooks can be parsed",
            notebook=name,
        )


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string (nbformat allows a string or a list of lines)."""
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def cell_tags(cell: Mapping[str, Any]) -> list[str]:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return [str(tag) for tag in tags]

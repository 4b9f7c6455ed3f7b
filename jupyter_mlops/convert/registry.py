"""Conversion targets by name: ours built in, third parties' through an entry point.

A converter is a class with a ``name``, a one-line ``description`` and
``convert(plan, output_dir) -> ConvertResult``. Third parties register theirs under the
``jupyter_mlops.converters`` entry-point group; built-ins are listed there too, so
``--to`` knows every installed target. Unknown names raise UnknownNameError listing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

from ..errors import UnknownNameError
from ..notebook.plan import Plan

ENTRY_POINT_GROUP = "jupyter_mlops.converters"
BUILTIN = {
    "python": "jupyter_mlops.convert.python_module:PythonModuleConverter",
    "notebooks": "jupyter_mlops.convert.notebooks:NotebooksConverter",
    "kfp": "jupyter_mlops.convert.kfp_pipeline:KfpConverter",
}


@dataclass
class ConvertResult:
    """What a conversion wrote, and what it could not express (named, never dropped)."""

    target: str
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "files": [str(f) for f in self.files],
            "warnings": list(self.warnings),
        }


class Converter(Protocol):
    name: str
    description: str

    def convert(self, plan: Plan, output_dir: Path) -> ConvertResult: ...


def available() -> dict[str, str]:
    """Every target name and where its class lives (built-ins first)."""
    targets = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(entry.name, entry.value)
    return targets


def get_converter(name: str) -> Converter:
    """An instance of the converter registered as ``name``."""
    target = BUILTIN.get(name) or available().get(name)
    if target is None:
        raise UnknownNameError(
            f"no conversion target {name!r}", hint="targets: " + ", ".join(sorted(available()))
        )
    module_name, _, attribute = target.partition(":")
    converter: Converter = getattr(import_module(module_name), attribute)()
    return converter

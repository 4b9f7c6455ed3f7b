"""MLRun/nuclio cell markers: ``# mlrun: ignore`` and ``# mlrun: start-code`` ... ``end-code``.

Notebooks written for MLRun (or nuclio before it) mark which code belongs to the function
with comments in the code itself, not with tags. The parser honours them so such notebooks
convert as MLRun would; the markers are another project's grammar, so they live apart from
our own tag grammar (``tags.py``) and from the plan building that uses them.
"""

from __future__ import annotations

import re
from typing import Any

from .reader import cell_source

# MLRun matches its ignore marker anywhere in a cell, after code too.
_MARKER = re.compile(r"#\s*(?:mlrun|nuclio)\s*:\s*(ignore)\b", re.IGNORECASE)
_SECTION = re.compile(
    r"^\s*#\s*(?:mlrun|nuclio)\s*:\s*(?P<kind>start|end)-code(?:\s+(?P<name>\S+))?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_SECTION_START = re.compile(r"^\s*#\s*(?:mlrun|nuclio)\s*:\s*start-code", re.I | re.M)


def ignored_by_marker(source: str) -> bool:
    """A ``# mlrun: ignore`` (or ``nuclio``) marker anywhere in the cell: MLRun skips it."""
    return any(m.lower() == "ignore" for m in _MARKER.findall(source))


def mlrun_sections(cells: list[dict[str, Any]]) -> dict[int, tuple[str, str]] | None:
    """MLRun/nuclio ``# mlrun: start-code [NAME]`` ... ``end-code`` sections.

    Returns, for each code cell inside a section, its source with the lines outside
    masked (blank, so line numbers hold) and the section's name ("" when unnamed); None
    when the notebook has no such markers (then every cell counts).
    """
    if not any(
        cell.get("cell_type") == "code" and _SECTION.search(cell_source(cell)) for cell in cells
    ):
        return None
    has_start = any(
        _SECTION_START.search(cell_source(c)) for c in cells if c.get("cell_type") == "code"
    )
    active: str | None = None if has_start else ""  # end-code alone: from the top
    kept: dict[int, tuple[str, str]] = {}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        lines, section = [], active
        for line in cell_source(cell).split("\n"):
            marker = _SECTION.match(line)
            if marker:
                active = (marker["name"] or "") if marker["kind"].lower() == "start" else None
                section = active if active is not None else section
                lines.append("")
            else:
                lines.append(line if active is not None else "")
        text = "\n".join(lines)
        if text.strip() and section is not None:
            kept[index] = (text, section)
    return kept

"""The one check every surface uses for user-given paths: inside the root, or refused.

MLflow's long run of path-traversal fixes came from checking paths in many places, each a
little differently. Here a path is resolved once, against the project root, and refused
unless it is a plain relative path to a visible file that really lies inside the root
(symlinks included). Surfaces turn the PathError into a 400/404, an exit code or a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from .errors import MLOpsError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WINDOWS = re.compile(r"^[A-Za-z]:|\\")


class PathError(MLOpsError):
    """A user-given path is outside the root, hidden, a URL or otherwise not allowed."""


class MissingPathError(PathError):
    """A well-formed path inside the root where nothing (or not a notebook) exists."""


def resolve_in_root(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """``path`` (relative to ``root``, or absolute inside it) as a resolved Path in the root."""
    text = os.fspath(path)
    _refuse_forms(text)
    root_path = Path(root).resolve()
    candidate = Path(text)
    if candidate.is_absolute():
        # An absolute path is accepted only when it already points inside the root.
        try:
            candidate = candidate.resolve().relative_to(root_path)
        except ValueError:
            raise PathError(f"{text!r} is outside the project root {str(root_path)!r}") from None
    parts = PurePosixPath(candidate.as_posix()).parts
    if any(part == ".." for part in parts):
        raise PathError(f"{text!r} leaves the project root ('..' is not allowed)")
    if any(part.startswith(".") and part != "." for part in parts):
        raise PathError(f"{text!r} is a hidden file or folder; hidden paths are not served")
    resolved = (root_path / candidate).resolve()
    if resolved != root_path and root_path not in resolved.parents:
        raise PathError(f"{text!r} leads outside the project root (through a symbolic link)")
    return resolved


def notebook_in_root(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """A notebook path: inside the root, an existing ``.ipynb`` file."""
    resolved = resolve_in_root(root, path)
    if resolved.suffix != ".ipynb":
        raise PathError(f"{os.fspath(path)!r} is not a notebook (expected a .ipynb file)")
    if not resolved.is_file():
        raise MissingPathError(f"no notebook {os.fspath(path)!r} under the project root")
    return resolved


def relative_name(root: str | os.PathLike[str], path: Path) -> str:
    """How the store names a file: its POSIX path relative to the root."""
    return path.resolve().relative_to(Path(root).resolve()).as_posix()


def _refuse_forms(text: str) -> None:
    if not text or text.strip() != text:
        raise PathError(f"{text!r} is not a usable path (empty, or surrounded by spaces)")
    if text == "-":
        raise PathError("'-' (standard input) is not accepted as a notebook path")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise PathError(f"{text!r} contains control characters")
    if _SCHEME.match(text) or text.startswith("file:"):
        raise PathError(f"{text!r} is a URL; only files under the project root are accepted")
    if _WINDOWS.search(text):
        raise PathError(f"{text!r} is a Windows path; use '/' separators relative to the root")
    if "#" in text or "?" in text:
        raise PathError(f"{text!r} contains '#' or '?'")
    decoded = unquote(unquote(text))
    if decoded != text and (".." in decoded or "/" in decoded or "\\" in decoded):
        raise PathError(f"{text!r} hides path separators or '..' in URL encoding")

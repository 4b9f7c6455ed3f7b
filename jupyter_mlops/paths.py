"""The one check every surface uses for user-given paths: inside the root, or refused.

MLflow's long run of path-traversal fixes came from checking paths in many places, each a
little differently. Here a path is resolved once, against the project root, and refused
unless it is a plain relative path to a visible file that really lies inside the root
(symlinks included: one that leads to a hidden file or folder is refused like that path).
Names the file system cannot hold (longer than NAME_MAX or PATH_MAX, lone surrogates) and
symbolic-link loops are refused here too, as the user's mistakes they are, rather than as
OSErrors deep inside a read. Surfaces turn the PathError into a 400/404, an exit code or a
message.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from .errors import MLOpsError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WINDOWS = re.compile(r"^[A-Za-z]:|\\")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
NAME_MAX = 255  # bytes in one file name (Linux, macOS, most file systems)
PATH_MAX = 4096  # bytes in a whole path (Linux)


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
    if _hidden(parts):
        raise PathError(f"{text!r} is a hidden file or folder; hidden paths are not served")
    try:
        resolved = (root_path / candidate).resolve()
    except RuntimeError:  # pathlib's word for a symbolic-link loop (ELOOP)
        raise PathError(f"{text!r} is a symbolic link loop") from None
    if resolved != root_path and root_path not in resolved.parents:
        raise PathError(f"{text!r} leads outside the project root (through a symbolic link)")
    if _hidden(resolved.relative_to(root_path).parts):
        raise PathError(
            f"{text!r} leads to a hidden file or folder (through a symbolic link); "
            "hidden paths are not served"
        )
    return resolved


def notebook_in_root(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """A notebook path: inside the root, an existing ``.ipynb`` file."""
    resolved = resolve_in_root(root, path)
    if resolved.suffix != ".ipynb":
        raise PathError(f"{os.fspath(path)!r} is not a notebook (expected a .ipynb file)")
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        raise MissingPathError(f"no notebook {os.fspath(path)!r} under the project root") from None
    except OSError as err:
        raise PathError(f"{os.fspath(path)!r} cannot be read: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        raise PathError(f"{os.fspath(path)!r} is not a regular file ({_kind(mode)})")
    return resolved


def read_regular_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file. Anything else is refused before a byte is read: opening
    a FIFO for reading waits for a writer forever, a device may never end. The check is on
    the opened descriptor (non-blocking), so the file cannot be swapped in between.

    Raises FileNotFoundError, IsADirectoryError, PathError (a FIFO, socket or device), or
    the OSError of the open (a symbolic-link loop, a name too long, no permission).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(path))
        if not stat.S_ISREG(mode):
            raise PathError(f"{os.fspath(path)!r} is not a regular file ({_kind(mode)})")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def relative_name(root: str | os.PathLike[str], path: Path) -> str:
    """How the store names a file: its POSIX path relative to the root."""
    return path.resolve().relative_to(Path(root).resolve()).as_posix()


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") and part != "." for part in parts)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"


def _refuse_forms(text: str) -> None:
    if not text or text.strip() != text:
        raise PathError(f"{text!r} is not a usable path (empty, or surrounded by spaces)")
    if _SURROGATE.search(text):
        shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
        raise PathError(f"{shown!r} is not valid text (a lone surrogate or a non-UTF-8 byte)")
    encoded = text.encode("utf-8")
    if len(encoded) > PATH_MAX:
        raise PathError(f"the path is {len(encoded)} bytes long; at most {PATH_MAX} are allowed")
    longest = max(len(part.encode("utf-8")) for part in text.split("/"))
    if longest > NAME_MAX:
        raise PathError(
            f"a name in {text[:40]!r}… is {longest} bytes long; at most {NAME_MAX} are allowed"
        )
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


def locate_notebook(
    root: str | os.PathLike[str],
    notebook: str | os.PathLike[str],
    content: Mapping[str, Any] | None = None,
) -> tuple[Path, str, Path]:
    """(path in the root, store name, working directory) of a notebook to read or run.

    With live ``content`` the file need not be saved yet, but its folder must exist.
    """
    if content is None:
        path = notebook_in_root(root, notebook)
    else:
        path = resolve_in_root(root, notebook)
        if path.suffix != ".ipynb":
            raise PathError(f"{os.fspath(notebook)!r} is not a notebook (expected .ipynb)")
        if not path.parent.is_dir():
            raise MissingPathError(f"no folder for {os.fspath(notebook)!r} under the root")
    return path, relative_name(root, path), path.parent

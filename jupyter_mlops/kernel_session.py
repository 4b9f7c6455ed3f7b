"""Which notebook a kernel was started for, and the Jupyter server that started it.

Apart from ``magics.py`` because it reads only the kernel's environment and the server's
runtime files (``JPY_SESSION_NAME``, VS Code's ``__vsc_ipynb_file__``, ``JPY_PARENT_PID`` and
``jpserver-<pid>.json``), not IPython; the magic's module docstring tells the whole story of
how a notebook and its store are found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

SESSION_VARIABLE = "JPY_SESSION_NAME"
VSCODE_VARIABLE = "__vsc_ipynb_file__"


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def kernel_notebook(environ: Mapping[str, str], cwd: Path, vscode_file: Any = None) -> Path | None:
    """The notebook a kernel was started for, from its environment (None: not known).

    ``JPY_SESSION_NAME`` is an absolute path (the session was named) or an API path relative
    to the server's root; the kernel runs in the notebook's folder under that root, so the
    root is the nearest folder, from the working directory up, that holds the path.
    """
    session = environ.get(SESSION_VARIABLE, "")
    if session:
        path = Path(session)
        if path.suffix != ".ipynb":
            return None  # a console or a file that is not a notebook
        if path.is_absolute():
            return path
        relative = PurePosixPath(session)
        for base in [cwd, *cwd.parents]:
            candidate = base.joinpath(*relative.parts)
            if candidate.is_file():
                return candidate
        return cwd / relative.name
    if isinstance(vscode_file, str) and vscode_file.endswith(".ipynb"):
        return Path(vscode_file)
    return None


def jupyter_server_root(environ: Mapping[str, str]) -> Path | None:
    """The root directory of the Jupyter server that started this kernel, if one did.

    jupyter_client sets ``JPY_PARENT_PID`` to the launching process, and a running
    jupyter_server describes itself in ``<runtime dir>/jpserver-<pid>.json``.
    """
    pid = environ.get("JPY_PARENT_PID", "")
    if not pid.isdigit():
        return None
    from jupyter_core.paths import jupyter_runtime_dir

    info = Path(jupyter_runtime_dir()) / f"jpserver-{pid}.json"
    try:
        root = json.loads(info.read_text(encoding="utf-8"))["root_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Path(root).resolve() if isinstance(root, str) and root else None


def no_notebook_message() -> str:
    if os.environ.get(SESSION_VARIABLE):
        return (
            f"this kernel's session ({os.environ[SESSION_VARIABLE]!r}) is not a notebook; "
            "pass --notebook PATH"
        )
    return (
        "which notebook? this kernel was not started by a Jupyter server for a notebook "
        f"({SESSION_VARIABLE} is not set); pass --notebook PATH"
    )

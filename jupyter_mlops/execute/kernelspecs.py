"""The installed kernelspecs, looked up without importing IPython when that changes nothing.

jupyter_client's ``KernelSpecManager`` adds ``<IPython dir>/kernels`` to the folders it
searches, and finds the IPython dir with ``from IPython.paths import get_ipython_dir``, which
imports all of IPython (the terminal shell, prompt_toolkit, jedi): 0.2 to 0.7 s of a CLI run
that only asks whether ``python3`` is installed. That folder rarely exists. When none of the
places ``get_ipython_dir`` can answer has a ``kernels`` folder, the manager is given the other
folders alone, which finds the same kernels; when one does, the stock manager is used.
"""

from __future__ import annotations

import os
from typing import Any


def _possible_ipython_kernel_dirs() -> list[str]:
    """Every folder ``IPython.paths.get_ipython_dir()`` can return, plus ``kernels``."""
    env = os.environ
    home = os.path.expanduser("~")
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    candidates = [
        env.get("IPYTHONDIR"),
        env.get("IPYTHON_DIR"),
        os.path.join(home, ".ipython"),
        os.path.join(xdg, "ipython"),
    ]
    return [
        os.path.join(os.path.normpath(os.path.expanduser(c)), "kernels") for c in candidates if c
    ]


def kernel_spec_manager() -> Any:
    """A ``KernelSpecManager`` that finds what the stock one finds."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_path

    if any(os.path.isdir(folder) for folder in _possible_ipython_kernel_dirs()):
        return KernelSpecManager()
    return KernelSpecManager(kernel_dirs=jupyter_path("kernels"))

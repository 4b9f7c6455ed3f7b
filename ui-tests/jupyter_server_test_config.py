"""JupyterLab server for the galata suite: a fresh project folder holding the example notebook.

Every start makes a new temporary root containing a copy of examples/churn.ipynb, so the
run store (``<root>/.mlops``) starts empty and no run of one test session leaks into the
next. The port comes from ``MLOPS_UI_PORT`` (tests/test_ui.py picks a free one).
Never use this configuration outside tests: galata's helper turns off token and XSRF checks.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by traitlets)
configure_jupyter_server(c)

root = Path(tempfile.mkdtemp(prefix="mlops-ui-root-"))
shutil.copy2(EXAMPLES / "churn.ipynb", root / "churn.ipynb")
if not os.environ.get("MLOPS_UI_KEEP_ROOT"):
    atexit.register(shutil.rmtree, root, ignore_errors=True)

c.ServerApp.root_dir = str(root)
c.ServerApp.port = int(os.environ.get("MLOPS_UI_PORT", "8899"))
c.ServerApp.allow_root = True
# Installing the package enables the server extension through jupyter-config/; saying so here
# as well keeps the suite working from a checkout where that file was not installed.
c.ServerApp.jpserver_extensions.update({"jupyter_mlops": True})

"""Two differences the converter differential test found, each fixed where it arose.

- Names an IPython kernel provides without an import (``get_ipython``, ``display``, ``In``,
  ``Out``) do not exist in plain Python: the python target warns, naming cell and line
  (so ``--strict`` refuses), where nothing in the notebook binds them.
- The per-function notebooks save the last function's results for inspection; one no
  function reads and that has no stored form (a generator) is reported, not a failure: the
  notebook's own run never stored it. A value a later function reads still fails the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest
from conftest import make_notebook

from jupyter_mlops.convert.runtime_io import mlops_load
from jupyter_mlops.notebook import parse_notebook
from jupyter_mlops.service import MLOps


def test_kernel_only_names_are_named_for_plain_python_targets_only() -> None:
    plan = parse_notebook(
        make_notebook(
            ("n: int = 2", "parameters"),
            ("shell = get_ipython()\ndisplay(n)\nfirst = In[0]", "mlops:fn:a"),
            ("from IPython.display import display\ndisplay(n)", "mlops:fn:b"),
        )
    )
    warned = [(w.cell, w.message, w.plain_python_only) for w in plan.warnings]
    assert (1, "'get_ipython' (line 1) exists only in an IPython kernel: generated plain "
            "Python has no shell", True) in warned  # fmt: skip
    assert any(
        cell == 1 and m.startswith("'display' (line 2) is a builtin only") for cell, m, _ in warned
    )
    assert any(cell == 1 and m.startswith("'In' (line 3)") for cell, m, _ in warned)
    assert not [m for cell, m, _ in warned if cell == 2]  # b imports display itself


@pytest.mark.kernel
def test_a_result_with_no_stored_form_is_reported_not_fatal_unless_a_function_reads_it(
    tmp_path: Path,
) -> None:
    notebook = make_notebook(
        ("n: int = 3", "parameters"),
        ("squares = [i * i for i in range(n)]", "mlops:fn:make"),
        ("total = sum(squares)\nlazy = (s for s in squares)", "mlops:fn:use"),
    )
    service = MLOps(root_dir=str(tmp_path))
    service.convert(notebook, "notebooks", tmp_path / "nb", name="lazy.ipynb")
    data = tmp_path / "data"
    for name in ("make", "use"):
        papermill.execute_notebook(
            str(tmp_path / "nb" / f"{name}.ipynb"),
            str(tmp_path / f"out-{name}.ipynb"),
            parameters={"mlops_data_dir": str(data)},
            kernel_name="python3",
            progress_bar=False,
        )
    assert mlops_load(str(data / "use" / "total")) == 5
    assert not (data / "use" / "lazy").exists()
    ran = json.loads((tmp_path / "out-use.ipynb").read_text())
    stderr = "".join(
        "".join(o.get("text", "")) for c in ran["cells"] for o in c.get("outputs", [])
        if o.get("name") == "stderr"
    )  # fmt: skip
    assert "[mlops] lazy: not stored (TypeError" in stderr

    # A generator a later function reads: the run fails, as it cannot hand it over
    reading = make_notebook(
        ("lazy = (i for i in range(3))", "mlops:fn:make"),
        ("total = sum(lazy)", "mlops:fn:use"),
    )
    service.convert(reading, "notebooks", tmp_path / "nb2", name="reading.ipynb")
    with pytest.raises(papermill.PapermillExecutionError, match="TypeError"):
        papermill.execute_notebook(
            str(tmp_path / "nb2" / "make.ipynb"),
            str(tmp_path / "out-make2.ipynb"),
            parameters={"mlops_data_dir": str(tmp_path / "data2")},
            kernel_name="python3",
            progress_bar=False,
        )
    service.close()

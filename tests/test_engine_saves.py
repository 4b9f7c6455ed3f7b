"""When the ``mlops`` engine writes the output notebook: as papermill does, or once at the end.

Real papermill, real forked kernels. papermill's own engine writes the output notebook when
the run starts, as cells finish, and twice at the end (its manager's ``notebook_complete``,
then ``execute_notebook``'s final write). The ``mlops`` engine keeps the first (someone may
watch the file), drops the redundant end write, and with ``mlops_watched=False`` (a tracked
run's private folder, read only once it ended) writes it once, at the end. A run stopped by
a fault is still written, whatever the option.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest
from conftest import make_notebook

pytestmark = pytest.mark.kernel


def _notebook(tmp_path: Path, output: Path) -> Path:
    source = tmp_path / "in.ipynb"
    probe = f"import os\nwritten_before_the_end = os.path.exists({str(output)!r})"
    notebook = make_notebook(probe, "print(written_before_the_end)")
    source.write_text(json.dumps(notebook), encoding="utf-8")
    return source


def _printed(output: Path) -> str:
    nb = nbformat.read(str(output), as_version=4)  # type: ignore[no-untyped-call]
    return "".join(o.get("text", "") for o in nb.cells[1].outputs).strip()


def test_by_default_the_output_exists_while_the_run_goes_as_under_papermill(
    tmp_path: Path,
) -> None:
    output = tmp_path / "out.ipynb"
    source = _notebook(tmp_path, output)
    papermill.execute_notebook(str(source), str(output), engine_name="mlops", progress_bar=False)
    assert _printed(output) == "True"
    stock = tmp_path / "stock.ipynb"
    papermill.execute_notebook(str(_notebook(tmp_path, stock)), str(stock), progress_bar=False)
    assert _printed(stock) == "True"


def test_unwatched_the_output_is_written_once_at_the_end_and_whole(tmp_path: Path) -> None:
    output = tmp_path / "out.ipynb"
    source = _notebook(tmp_path, output)
    papermill.execute_notebook(
        str(source), str(output), engine_name="mlops", progress_bar=False, mlops_watched=False
    )
    assert _printed(output) == "False"
    nb = nbformat.read(str(output), as_version=4)  # type: ignore[no-untyped-call]
    assert nb.metadata.papermill.end_time is not None
    assert nb.metadata.papermill.duration is not None


def test_unwatched_a_run_stopped_by_a_fault_is_still_written(tmp_path: Path) -> None:
    source = tmp_path / "in.ipynb"
    notebook = make_notebook("x = 1", "import time\ntime.sleep(30)")
    source.write_text(json.dumps(notebook), encoding="utf-8")
    output = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match="CellTimeoutError"):
        papermill.execute_notebook(
            str(source),
            str(output),
            engine_name="mlops",
            progress_bar=False,
            mlops_watched=False,
            execution_timeout=1,
        )
    nb = nbformat.read(str(output), as_version=4)  # type: ignore[no-untyped-call]
    assert nb.cells[1].outputs[-1]["output_type"] == "error"  # the interrupted cell, shown
    assert nb.metadata.papermill.exception is True

"""Generated code for notebooks as people write them, run for real.

Star imports in a whole notebook, a metrics cell that also holds an array, names assigned on
both branches of an ``if``, and ``int | None`` / ``Literal[...]`` parameters: each converted
and then run the way its target runs (plain Python in a subprocess, papermill in a kernel,
``kfp.local`` in subprocesses).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_notebook

from jupyter_mlops.convert.runtime_io import mlops_load
from jupyter_mlops.errors import ConvertError
from jupyter_mlops.service import MLOps


def convert(notebook: dict, target: str, folder: Path, name: str = "nb.ipynb"):
    return MLOps().convert(notebook, target, folder, name=name)


def run_python(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=120
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout[stdout.rindex("\n{") + 1 :] if "\n{" in stdout else stdout)


# -- star imports in a whole notebook (python target) ----------------------------------------

# A module like pylab: a star import of it also brings names the generated module uses itself.
STAR_MODULE = (
    "import math\njson = 'not the json module'\nsys = None\n\n"
    "def area(r):\n    return math.pi * r * r\n"
)


def test_a_whole_notebook_star_import_moves_to_module_level_and_the_module_runs(tmp_path):
    # Given a notebook without function tags that uses 'from x import *', like fastai or pylab
    (tmp_path / "shapes.py").write_text(STAR_MODULE)
    notebook = make_notebook(
        ("radius: float = 1.0", "parameters"),
        "from shapes import *\nfrom math import *",
        "surface = area(radius)\nhalf = surface / 2",
        ("score = half / pi", "mlops:skip"),
    )
    # When it is converted to Python
    result = convert(notebook, "python", tmp_path)
    (path,) = result.files
    # Then the star imports were moved to module level, with a warning naming the cell
    assert (
        sum("cell 1: 'from shapes import *' moved to module level" in w for w in result.warnings)
        == 1
    )
    source = path.read_text()
    assert source.index("from shapes import *") < source.index("import json")
    # And the module runs from the command line (its own json and sys are intact)
    cli = run_python(tmp_path, path.name, "--radius", "2")
    assert cli.returncode == 0, cli.stderr
    # and run_pipeline returns the notebook's values
    call = run_python(
        tmp_path, "-c", "import json, nb; print(json.dumps(nb.run_pipeline(radius=3.0)))"
    )
    assert call.returncode == 0, call.stderr
    assert last_json(call.stdout)["surface"] == pytest.approx(math.pi * 9)


def test_a_pylab_notebook_without_function_tags_runs_as_a_module_with_its_metric(tmp_path):
    # Given a whole notebook in the pylab style, with a metrics cell and no function tags
    notebook = make_notebook(
        ("n: int = 5", "parameters"),
        "from pylab import *",
        "x = linspace(0, 1, n)\ny = x ** 2\nplot(x, y)\nsavefig('curve.png')",
        ("total = float(y.sum())", "mlops:metrics"),
    )
    (path,) = convert(notebook, "python", tmp_path).files
    # When the module runs from the command line
    cli = subprocess.run(
        [sys.executable, path.name, "--n", "11"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    # Then it runs the notebook's code and prints its metric
    assert cli.returncode == 0, cli.stderr
    assert last_json(cli.stdout) == {"total": pytest.approx(sum((i / 10) ** 2 for i in range(11)))}
    assert (tmp_path / "curve.png").is_file()


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("try:\n    from math import *\nexcept ImportError:\n    pass", "inside a block"),
        ("if True:\n    from math import *", "inside a block"),
        ("from math import *; x = pi", "line of its own"),
        # a name read from the import, then reused as a variable (pylab's 'title', 'e')
        ("from math import *\nx = e\ne = 2", "'e' is read"),
    ],
)
def test_a_whole_notebook_star_import_that_cannot_move_is_refused_saying_why(cell, why, tmp_path):
    notebook = make_notebook("y = 1", cell)
    with pytest.raises(ConvertError, match=why) as caught:
        convert(notebook, "python", tmp_path)
    assert caught.value.cell == 1


def test_a_star_import_in_a_tagged_function_is_still_refused_with_the_fix(tmp_path):
    notebook = make_notebook(("from math import *\ny = pi", "mlops:fn:a"))
    with pytest.raises(ConvertError, match="mlops:setup") as caught:
        convert(notebook, "python", tmp_path)
    assert caught.value.cell == 0


# -- a metrics cell that also assigns an array --------------------------------------------------

ARRAY_METRICS = make_notebook(
    ("import numpy as np", "mlops:setup"),
    ("scale: float = 2.0", "parameters"),
    ("values = np.arange(4) * scale", "mlops:fn:train"),
    ("errors = values - 1.0\naccuracy = float(values.mean()) / 10", "mlops:metrics"),
)


def test_an_array_in_a_metrics_cell_is_an_output_not_a_metric_of_the_python_module(tmp_path):
    (path,) = convert(ARRAY_METRICS, "python", tmp_path).files
    # When the module runs
    cli = run_python(tmp_path, path.name, "--scale", "4")
    # Then it prints only the number as a metric, and the array is still returned
    assert cli.returncode == 0, cli.stderr
    assert last_json(cli.stdout) == {"accuracy": pytest.approx(0.6)}
    call = run_python(
        tmp_path, "-c", "import nb; print(list(nb.run_pipeline(scale=1.0)['errors']))"
    )
    assert call.returncode == 0, call.stderr
    assert (
        call.stdout.strip()
        == "[np.float64(-1.0), np.float64(0.0), np.float64(1.0), np.float64(2.0)]"
    )


@pytest.mark.kernel
def test_an_array_in_a_metrics_cell_does_not_break_a_tracked_run(tmp_path):
    (tmp_path / "arrays.ipynb").write_text(json.dumps(ARRAY_METRICS))
    service = MLOps(root_dir=str(tmp_path))
    try:
        whole = service.run("arrays.ipynb", parameters={"scale": 4.0})
        alone = service.run("arrays.ipynb", function="train", parameters={"scale": 4.0})
    finally:
        service.close()
    for run in (whole, alone):
        assert run.status == "succeeded", run.error
        assert run.metrics == {"accuracy": pytest.approx(0.6)}


# -- a name assigned on both branches of an if ----------------------------------------------------

BRANCHES = make_notebook(
    ("limit: int = 3", "parameters"),
    (
        "if limit > 2:\n    label = 'big'\nelse:\n    label = 'small'\n"
        "try:\n    ratio = 1 / limit\nexcept ZeroDivisionError:\n    ratio = None\n"
        "try:\n    maybe = 1 / limit\nexcept ZeroDivisionError:\n    pass",
        "mlops:fn:classify",
    ),
)
BRANCH_METRIC = make_notebook(
    ("limit: int = 3", "parameters"),
    ("size = limit * 2", "mlops:fn:grade"),
    ("if size > 4:\n    score = 1.0\nelse:\n    score = 0.5", "mlops:metrics"),
)


def test_a_name_assigned_on_both_branches_is_an_output(tmp_path):
    classify = MLOps().inspect(BRANCHES).function("classify")
    # Bound on every path: outputs; bound only when no exception is raised: not an output
    assert classify.outputs == ["label", "ratio"]
    convert(BRANCHES, "python", tmp_path)
    call = run_python(tmp_path, "-c", "import nb; print(nb.run_pipeline(limit=5))")
    assert call.returncode == 0, call.stderr
    assert call.stdout.strip() == "{'limit': 5, 'label': 'big', 'ratio': 0.2}"


def test_a_metric_assigned_on_both_branches_is_a_metric(tmp_path):
    assert MLOps().inspect(BRANCH_METRIC).function("grade").metrics == ["score"]
    (path,) = convert(BRANCH_METRIC, "python", tmp_path).files
    for limit, score in [("1", 0.5), ("3", 1.0)]:
        cli = run_python(tmp_path, path.name, "--limit", limit)
        assert cli.returncode == 0, cli.stderr
        assert last_json(cli.stdout) == {"score": score}


# -- int | None and Literal[...] parameters --------------------------------------------------------

TYPED = make_notebook(
    ("from typing import Literal", "mlops:setup"),
    (
        "depth: int | None = None  # None: no limit\n"
        "mode: Literal['fast', 'slow'] = 'fast'\n"
        "level: Literal[1, 2] = 1",
        "parameters",
    ),
    ("steps = (depth or 10) * (2 if mode == 'slow' else 1) * level", "mlops:fn:plan"),
    ("total = steps + 1", "mlops:fn:report"),
)


@pytest.mark.kernel
def test_optional_and_literal_parameters_work_in_function_notebooks_run_by_papermill(tmp_path):
    import papermill

    convert(TYPED, "notebooks", tmp_path / "nb")
    data = tmp_path / "data"
    for name, parameters in [
        ("plan", {"depth": 4, "mode": "slow", "level": 2}),
        ("report", {}),
    ]:
        papermill.execute_notebook(
            str(tmp_path / "nb" / f"{name}.ipynb"),
            str(tmp_path / f"out-{name}.ipynb"),
            parameters={"mlops_data_dir": str(data), **parameters},
            kernel_name="python3",
            progress_bar=False,
        )
    assert mlops_load(str(data / "plan" / "steps")) == 16
    assert mlops_load(str(data / "report" / "total")) == 17
    # And with the defaults (depth None)
    papermill.execute_notebook(
        str(tmp_path / "nb" / "plan.ipynb"),
        str(tmp_path / "out-default.ipynb"),
        parameters={"mlops_data_dir": str(tmp_path / "defaults")},
        kernel_name="python3",
        progress_bar=False,
    )
    assert mlops_load(str(tmp_path / "defaults" / "plan" / "steps")) == 10


KFP_RUN = """
import importlib.util, sys, warnings
warnings.simplefilter("ignore")
from kfp import local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])
spec = importlib.util.spec_from_file_location("generated", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.pipeline(**eval(sys.argv[3]))
"""


@pytest.mark.kfp
def test_optional_and_literal_parameters_compile_and_run_with_kfp_local(tmp_path):
    # Given the notebook compiled by the real kfp compiler
    result = convert(TYPED, "kfp", tmp_path / "kfp")
    source, package = result.files
    spec = package.read_text()
    assert "isOptional: true" in spec
    assert any("'depth' defaults to None" in w for w in result.warnings)

    def run(root: str, arguments: dict) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", KFP_RUN, str(source), str(tmp_path / root), repr(arguments)],
            capture_output=True,
            text=True,
            timeout=600,
        )

    # When kfp.local runs it with a value for the optional and a choice of each Literal
    done = run("root", {"depth": 4, "mode": "slow", "level": 2})
    assert done.returncode == 0, done.stderr[-3000:]
    (steps,) = (tmp_path / "root").glob("*/plan/out_steps")
    (total,) = (tmp_path / "root").glob("*/report/out_total")
    assert mlops_load(str(steps)) == 16
    assert mlops_load(str(total)) == 17
    # And a value outside a Literal's choices is refused by the component, naming it
    refused = run("refused", {"depth": 4, "mode": "medium"})
    assert refused.returncode != 0
    expected = "parameter 'mode': expected one of ['fast', 'slow'], got 'medium'"
    assert expected in refused.stdout + refused.stderr

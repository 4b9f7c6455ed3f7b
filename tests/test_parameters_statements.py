"""A parameters cell with code besides literals (papermill's own example imports in it): the
literals are the typed parameters, every other statement stays as code, runs with the
defaults before the functions, and is named in a warning. Each target keeps papermill's
meaning, checked side by side with stock papermill on the same override: the notebook run by
papermill, the python module, the per-function notebooks chained by papermill, and the kfp
pipeline run by ``kfp.local``.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook

from jupyter_mlops.convert.runtime_io import mlops_load
from jupyter_mlops.errors import TagError
from jupyter_mlops.notebook import parse_notebook
from jupyter_mlops.service import MLOps

PARAMETERS_CELL = (
    "import math\n"
    "base: int = 3  # the base\n"
    "n = base * 2  # computed from the default\n"
    "scale = math.sqrt(4)\n"
    "label = 'x'"
)
NOTEBOOK = make_notebook(
    (PARAMETERS_CELL, "parameters"),
    ("y = n + base + scale", "mlops:fn:f"),
    ("z = y * 10", "mlops:fn:g"),
)
# papermill injects base=5 after the whole cell: n keeps the default's 6, so y = 6 + 5 + 2
EXPECTED = {"y": 13.0, "z": 130.0}


def papermill_values(tmp_path: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """The notebook run by stock papermill, with one cell appended that writes y and z."""
    import papermill

    stock = copy.deepcopy(NOTEBOOK)
    stock["cells"].append(
        {
            "cell_type": "code",
            "id": "values",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "import json\njson.dump({'y': y, 'z': z}, open('values.json', 'w'))",
        }
    )
    source = tmp_path / "stock.ipynb"
    source.write_text(json.dumps(stock), encoding="utf-8")
    papermill.execute_notebook(
        str(source),
        str(tmp_path / "stock-out.ipynb"),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    values: dict[str, Any] = json.loads((tmp_path / "values.json").read_text())
    return values


def test_literals_are_parameters_and_each_other_statement_is_named_in_a_warning() -> None:
    plan = parse_notebook(NOTEBOOK)
    assert [(p.name, str(p.type), p.default) for p in plan.parameters] == [
        ("base", "int", 3),
        ("label", "str", "x"),
    ]
    assert plan.parameters[0].help == "the base"
    warnings = [w.message for w in plan.warnings if w.cell == 0]
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith("parameters cell line 1: `import math` stays as code")
    assert "line 3: `n = base * 2  # computed from the default`" not in warnings[1]
    assert warnings[1].startswith("parameters cell line 3: `n = base * 2` is not a literal")
    assert "cannot be given a value" in warnings[1]
    assert warnings[2].startswith("parameters cell line 4: `scale = math.sqrt(4)`")
    assert [c.index for c in plan.parameters_code] == [0]
    f = plan.function("f")
    assert f.parameters == ["base"]  # n and scale come from the cell's code, like setup


def test_code_that_assigns_a_parameter_again_is_refused_naming_both_lines() -> None:
    notebook = make_notebook(("base = 3\nbase = base + 1", "parameters"), ("y = base", "f"))
    with pytest.raises(TagError, match=r"parameter 'base' \(line 1\) is also assigned") as err:
        parse_notebook(notebook)
    assert "line 2" in str(err.value)


@pytest.mark.kernel
def test_the_python_module_and_the_function_notebooks_mean_what_papermill_does(
    tmp_path: Path,
) -> None:
    # Given stock papermill's values for base=5
    stock = papermill_values(tmp_path, {"base": 5})
    assert stock == EXPECTED

    # When the python module runs with the same value, as a script in its own folder
    service = MLOps(root_dir=str(tmp_path))
    service.convert(NOTEBOOK, "python", tmp_path / "py", name="stats.ipynb")
    script = (
        "import json, stats\n"
        "out = stats.run_pipeline(base=5)\n"
        "print(json.dumps({'y': out['y'], 'z': out['z']}))"
    )
    module = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path / "py",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    assert json.loads(module.stdout) == stock

    # And the per-function notebooks chained by papermill
    import papermill

    service.convert(NOTEBOOK, "notebooks", tmp_path / "nb", name="stats.ipynb")
    manifest = json.loads((tmp_path / "nb" / "pipeline.json").read_text())
    data = tmp_path / "data"
    for function in manifest["functions"]:
        parameters: dict[str, Any] = {"mlops_data_dir": str(data)}
        if "base" in function["parameters"]:
            parameters["base"] = 5
        papermill.execute_notebook(
            str(tmp_path / "nb" / function["notebook"]),
            str(tmp_path / f"out-{function['notebook']}"),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
        )
    assert mlops_load(str(data / "f" / "y")) == stock["y"]
    assert mlops_load(str(data / "g" / "z")) == stock["z"]
    service.close()


@pytest.mark.kernel
def test_a_value_for_a_computed_name_is_refused_by_name_where_papermill_would_take_it(
    tmp_path: Path,
) -> None:
    # papermill injects n=7 (it assigns whatever it is given); n is not a typed parameter
    assert papermill_values(tmp_path, {"n": 7})["y"] == 7 + 3 + 2.0
    (tmp_path / "stats.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "run", "stats.ipynb", "-p", "n", "7"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error: ")
    assert "'n'" in run.stderr
    convert = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "convert", "stats.ipynb", "--to", "python"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert convert.returncode == 0, convert.stderr
    assert "parameters cell line 3: `n = base * 2` is not a literal" in convert.stderr
    strict = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "convert", "stats.ipynb", "--to", "python",
         "--strict", "-o", "strict"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert strict.returncode == 2
    assert "`n = base * 2`" in strict.stderr
    assert not (tmp_path / "strict").exists()


@pytest.mark.kfp
def test_the_kfp_pipeline_means_what_papermill_does(tmp_path: Path) -> None:
    result = MLOps(root_dir=str(tmp_path)).convert(
        NOTEBOOK, "kfp", tmp_path / "kfp", name="stats.ipynb"
    )
    source = result.files[0]
    script = f"""
import importlib.util, warnings
warnings.simplefilter("ignore")
from kfp import local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root={str(tmp_path / "root")!r})
spec = importlib.util.spec_from_file_location("generated", {str(source)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.pipeline(base=5)
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (y,) = (tmp_path / "root").glob("*/f/out_y")
    (z,) = (tmp_path / "root").glob("*/g/out_z")
    assert (mlops_load(str(y)), mlops_load(str(z))) == (EXPECTED["y"], EXPECTED["z"])

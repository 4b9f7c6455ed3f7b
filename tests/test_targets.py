"""The notebooks and kfp targets and the nbconvert exporter, run for real.

Each target's output for the example must give the metrics the notebook gives when its code
cells run top to bottom: papermill runs the per-function notebooks in a real kernel, and
``kfp.local`` runs the compiled pipeline in subprocesses.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cells_top_to_bottom

from jupyter_mlops.convert.kfp_pipeline import KfpConverter
from jupyter_mlops.convert.runtime_io import mlops_load
from jupyter_mlops.errors import ConvertError, UnknownNameError
from jupyter_mlops.notebook import parse_notebook
from jupyter_mlops.service import MLOps

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn.ipynb"
OVERRIDES = {"C": 0.5, "n_customers": 600}
METRICS = ("accuracy", "f1", "roc_auc")


@pytest.fixture(scope="module")
def expected_metrics() -> dict[str, float]:
    """The example's metrics from its code cells run top to bottom, as a person would."""
    namespace = run_cells_top_to_bottom(EXAMPLE, OVERRIDES)
    return {name: namespace[name] for name in METRICS}


@pytest.mark.kernel
def test_function_notebooks_chained_by_papermill_give_the_notebooks_metrics(
    tmp_path: Path, expected_metrics: dict[str, float]
) -> None:
    # Given the example converted to one notebook per function
    import papermill

    result = MLOps().convert(EXAMPLE, "notebooks", tmp_path / "nb")
    manifest = json.loads((tmp_path / "nb" / "pipeline.json").read_text())
    assert [f["name"] for f in manifest["functions"]] == [
        "load_data",
        "prepare",
        "train",
        "evaluate",
        "predict",
    ]
    assert len(result.files) == 6
    data = tmp_path / "data"

    # When papermill runs them in the manifest's order with the same overrides
    for function in manifest["functions"]:
        parameters = {"mlops_data_dir": str(data)}
        parameters.update({k: v for k, v in OVERRIDES.items() if k in function["parameters"]})
        papermill.execute_notebook(
            str(tmp_path / "nb" / function["notebook"]),
            str(tmp_path / f"out-{function['notebook']}"),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
        )

    # Then the evaluate function wrote the notebook's own metrics
    for name in METRICS:
        assert mlops_load(str(data / "evaluate" / name)) == pytest.approx(expected_metrics[name])


def test_function_notebook_keeps_magics_and_has_a_parameters_cell(tmp_path: Path) -> None:
    notebook = {
        "cells": [
            _code("alpha: float = 0.5  # rate", ["parameters"]),
            _code("%matplotlib inline\nx = alpha * 2", ["mlops:fn:first"]),
            _code("!echo hi\ny = x + 1", ["mlops:fn:second"]),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    MLOps().convert(notebook, "notebooks", tmp_path)
    second = json.loads((tmp_path / "second.ipynb").read_text())
    sources = [cell["source"] for cell in second["cells"] if cell["cell_type"] == "code"]
    assert second["cells"][1]["metadata"]["tags"] == ["parameters"]
    assert "!echo hi\ny = x + 1" in sources
    assert any(
        "mlops_load(_mlops_os.path.join(mlops_data_dir, 'first', 'x'))" in s for s in sources
    )
    first = json.loads((tmp_path / "first.ipynb").read_text())
    assert "alpha: float = 0.5  # rate" in first["cells"][1]["source"]


@pytest.mark.kfp
def test_kfp_pipeline_compiles_and_runs_locally_with_the_notebooks_metrics(
    tmp_path: Path, expected_metrics: dict[str, float]
) -> None:
    # Given the example compiled to a KFP v2 pipeline
    result = MLOps().convert(EXAMPLE, "kfp", tmp_path / "kfp")
    source, package = result.files
    assert package.suffix == ".yaml"
    spec = package.read_text()
    assert "comp-load-data" in spec
    assert "comp-evaluate" in spec
    assert "parameterType: NUMBER_DOUBLE" in spec  # typed pipeline parameters

    # When kfp.local runs it in subprocesses (no cluster)
    script = f"""
import importlib.util, json, sys, warnings
warnings.simplefilter("ignore")
from kfp import local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root={str(tmp_path / "root")!r})
spec = importlib.util.spec_from_file_location("generated", {str(source)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.pipeline(**{OVERRIDES!r})
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]

    # Then the evaluate component's artifacts hold the notebook's own metrics
    for name in METRICS:
        (artifact,) = (tmp_path / "root").glob(f"*/evaluate/out_{name}")
        assert mlops_load(str(artifact)) == pytest.approx(expected_metrics[name])


@pytest.mark.kfp
def test_kfp_options_map_to_the_task_api_and_timeout_is_reported(tmp_path: Path) -> None:
    notebook = {
        "cells": [
            _code("n: int = 3", ["parameters"]),
            _code(
                "x = n + 1",
                [
                    "mlops:fn:heavy",
                    "mlops:cpu:2",
                    "mlops:memory:4Gi",
                    "mlops:gpu:1",
                    "mlops:retries:3",
                    "mlops:cache:off",
                    "mlops:timeout:60",
                    "mlops:image:python:3.11-slim",
                ],
            ),
            _code("y = x * 2", ["mlops:fn:light"]),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    result = KfpConverter().convert(parse_notebook(notebook, name="opts.ipynb"), tmp_path)
    source = result.files[0].read_text()
    for call in (
        "heavy_task.set_cpu_limit('2')",
        "heavy_task.set_memory_limit('4Gi')",
        "heavy_task.set_accelerator_type('nvidia.com/gpu')",
        "heavy_task.set_accelerator_limit(1)",
        "heavy_task.set_retry(num_retries=3)",
        "heavy_task.set_caching_options(enable_caching=False)",
        "@dsl.component(base_image='python:3.11-slim')",
    ):
        assert call in source
    assert any("timeout" in warning and "heavy" in warning for warning in result.warnings)
    spec = result.files[1].read_text()
    assert "resourceCpuLimit" in spec or "cpuLimit" in spec


@pytest.mark.kfp
def test_user_text_reaches_kfp_code_only_as_literals(tmp_path: Path) -> None:
    nasty = 'it\'s "quoted"\nnew line \\ back"); import os; os.system("id"); ("'
    notebook = {
        "cells": [
            _code(f"label: str = {nasty!r}  # help with ''' quotes", ["parameters"]),
            _code("out = label.upper()", ["mlops:fn:shout"]),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    result = MLOps().convert(notebook, "kfp", tmp_path, name="we'ird\nname.ipynb")
    source = result.files[0].read_text()
    compile(source, "generated", "exec")
    assert repr(nasty) in source
    assert 'os.system("id")' not in source.replace(repr(nasty), "")


def test_unknown_target_is_named_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        UnknownNameError, match=r"no conversion target 'pdf'.*kfp, notebooks, python"
    ):
        MLOps().convert(EXAMPLE, "pdf", tmp_path)


def test_kfp_target_without_kfp_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def no_kfp(name: str, *args: Any) -> Any:
        return None if name == "kfp" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_kfp)
    with pytest.raises(ConvertError, match=r"pip install 'jupyter-mlops\[kfp\]'"):
        MLOps().convert(EXAMPLE, "kfp", tmp_path)
    assert not list(tmp_path.iterdir())


def test_nbconvert_exporter_writes_the_python_module(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "mlops-python",
            "--output-dir",
            str(tmp_path),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    module = tmp_path / "churn.py"
    assert "def run_pipeline(" in module.read_text()
    compile(module.read_text(), str(module), "exec")


def _code(source: str, tags: list[str]) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": tags},
        "outputs": [],
        "source": source,
    }


@pytest.mark.parametrize(
    ("target", "star_cell", "tags"),
    [
        ("python", 1, ["mlops:fn:a"]),
        ("kfp", 0, ["mlops:setup"]),
    ],
)
def test_a_star_import_inside_generated_functions_is_refused_naming_the_cell(
    tmp_path: Path, target: str, star_cell: int, tags: list[str]
) -> None:
    cells = [_code("import math", ["mlops:setup"]), _code("y = math.pi", ["mlops:fn:a"])]
    cells[star_cell] = _code("from math import *\ny = pi", tags)
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    with pytest.raises(ConvertError, match=rf"cell {star_cell}: .*import \*"):
        MLOps().convert(notebook, target, tmp_path)

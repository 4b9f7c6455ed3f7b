"""``jupyter mlops``: human and JSON output, and user errors as one line with exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import EXAMPLE, REPO, make_notebook

from jupyter_mlops import __version__
from jupyter_mlops.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- inspect -----------------------------------------------------------------------------


def test_inspect_prints_parameters_functions_dag_and_metrics(capsys):
    code, out, err = run(capsys, "inspect", str(EXAMPLE))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == str(EXAMPLE)
    help_text = "inverse regularization strength of the logistic regression"
    assert f"  C: float = 1.0                  {help_text}" in lines
    assert "Setup cells: 2" in lines
    assert any(line.startswith("  load_data  cells 4-5  version ") for line in lines)
    assert "    from load_data: customers" in lines
    assert "    outputs: model" in lines
    assert "  load_data -> prepare  (customers)" in lines
    assert "Metrics: accuracy (evaluate), f1 (evaluate), roc_auc (evaluate)" in lines
    assert "Warnings" not in out


def test_inspect_lists_functions_in_run_order(capsys):
    _, out, _ = run(capsys, "inspect", str(EXAMPLE))
    order = [
        out.index(f"  {name}  cells") for name in ("load_data", "prepare", "train", "evaluate")
    ]
    assert order == sorted(order)


def test_inspect_shows_warnings_with_their_cells(capsys, write_notebook):
    path = write_notebook(make_notebook("import os", ("y = missing", "mlops:fn:a")))
    code, out, _ = run(capsys, "inspect", str(path))
    assert code == 0
    assert "Warnings (2)" in out
    assert "  cell 0: cells 0 come before any tagged cell" in out
    assert "  cell 1: 'missing' (line 1) is not defined" in out


def test_inspect_shows_after_edges_and_options(capsys, write_notebook):
    path = write_notebook(
        make_notebook(
            ("x = 1", ["mlops:fn:a", "mlops:gpu:1"]), ("y = 2", ["mlops:fn:b", "mlops:after:a"])
        )
    )
    _, out, _ = run(capsys, "inspect", str(path))
    assert "    options: gpu=1" in out
    assert "    after: a" in out
    assert "  a -> b  (after)" in out


def test_inspect_json_has_the_documented_schema(capsys):
    # When inspect runs with --json
    code, out, err = run(capsys, "inspect", str(EXAMPLE), "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    # Then the top level and every entry have the documented keys
    assert data["notebook"] == str(EXAMPLE)
    for parameter in data["parameters"]:
        assert {"name", "type", "default", "help"} <= parameter.keys()
    for function in data["functions"]:
        assert {
            "name",
            "cells",
            "inputs",
            "outputs",
            "after",
            "options",
            "version",
        } <= function.keys()
    assert isinstance(data["warnings"], list)
    # And the values are the plan's
    assert data["parameters"][2] == {
        "name": "C",
        "type": "float",
        "default": 1.0,
        "help": "inverse regularization strength of the logistic regression",
    }
    train = next(f for f in data["functions"] if f["name"] == "train")
    assert train["cells"] == [10]
    assert set(train["inputs"]) == {
        "C",
        "max_iter",
        "X_train",
        "y_train",
        "scaler",
        "feature_names",
    }
    assert train["outputs"] == ["model"]
    assert train["after"] == []
    assert train["options"] == {}
    assert len(train["version"]) == 64


def test_inspect_json_warnings_have_cell_and_message(capsys, write_notebook):
    path = write_notebook(make_notebook(("y = missing", "mlops:fn:a")))
    _, out, _ = run(capsys, "inspect", str(path), "--json")
    assert json.loads(out)["warnings"] == [
        {
            "cell": 0,
            "message": "'missing' (line 1) is not defined by any parameter, setup cell or function",
        }
    ]


def test_inspect_json_keeps_unicode_readable(capsys, write_notebook):
    path = write_notebook(
        make_notebook(
            ("α = 0.5  # taux d'apprentissage", "parameters"), ("y = α", "mlops:fn:prép")
        ),
        "étude.ipynb",
    )
    _, out, _ = run(capsys, "inspect", str(path), "--json")
    assert "taux d'apprentissage" in out
    assert '"prép"' in out
    assert json.loads(out)["parameters"][0]["name"] == "α"


# -- errors ------------------------------------------------------------------------------


def assert_user_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1, "one line"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_a_missing_notebook_is_a_one_line_error(capsys, tmp_path):
    missing = tmp_path / "nothing.ipynb"
    assert_user_error(*run(capsys, "inspect", str(missing)), "no such notebook", "nothing.ipynb")


def test_bad_json_is_a_one_line_error(capsys, write_notebook):
    path = write_notebook('{"cells": [', "broken.ipynb")
    assert_user_error(*run(capsys, "inspect", str(path)), "broken.ipynb", "not valid JSON")


def test_an_unknown_target_is_a_one_line_error_listing_the_targets(capsys, tmp_path):
    result = run(capsys, "convert", str(EXAMPLE), "--to", "nope", "-o", str(tmp_path))
    assert_user_error(*result, "no conversion target 'nope'", "python")
    assert list(tmp_path.iterdir()) == []


def test_a_cycle_is_a_one_line_error_naming_the_functions(capsys, write_notebook):
    path = write_notebook(
        make_notebook(("x = 1", ["mlops:fn:a", "mlops:after:b"]), ("y = x", "mlops:fn:b"))
    )
    assert_user_error(*run(capsys, "inspect", str(path)), "cycle", "a (cell 0) -> b (cell 1)")


def test_a_bad_tag_is_a_one_line_error_naming_the_cell(capsys, write_notebook):
    path = write_notebook(make_notebook("import os", ("x = 1", ["mlops:fn:a", "mlops:cpu:lots"])))
    assert_user_error(*run(capsys, "inspect", str(path)), "cell 1", "'mlops:cpu:lots'")


def test_a_parameter_assigned_again_by_code_is_a_one_line_error(capsys, write_notebook):
    code = "x = 1\nx = x + 1"
    path = write_notebook(make_notebook((code, "parameters"), ("y = x", "mlops:fn:a")))
    assert_user_error(*run(capsys, "inspect", str(path)), "cell 0", "also assigned by code")


def test_a_non_python_notebook_is_a_one_line_error(capsys, write_notebook):
    path = write_notebook(make_notebook("x <- 1", language="R", kernel="ir"))
    assert_user_error(*run(capsys, "inspect", str(path)), "only Python notebooks")


def test_convert_errors_are_one_line_errors_too(capsys, write_notebook, tmp_path):
    code = "x = 1\nx = x + 1"
    path = write_notebook(make_notebook((code, "parameters"), ("y = x", "mlops:fn:a")))
    result = run(capsys, "convert", str(path), "--to", "python", "-o", str(tmp_path / "out"))
    assert_user_error(*result, "also assigned by code")


def test_a_cell_that_does_not_parse_is_a_one_line_error_on_convert(
    capsys, write_notebook, tmp_path
):
    path = write_notebook(make_notebook(("if x\n    y = 1", "mlops:fn:a")))
    result = run(capsys, "convert", str(path), "--to", "python", "-o", str(tmp_path))
    assert_user_error(*result, "cell 0", "does not parse")


def test_with_json_an_error_is_one_json_object_on_stderr(capsys, write_notebook):
    path = write_notebook(make_notebook(("x = 1", ["mlops:fn:a", "mlops:bogus"])), "tags.ipynb")
    code, out, err = run(capsys, "inspect", str(path), "--json")
    assert (code, out) == (2, "")
    error = json.loads(err)
    assert error["error"] == "TagError"
    assert error["cell"] == 0
    assert error["notebook"].endswith("tags.ipynb")
    assert "mlops:bogus" in error["message"]


def test_missing_arguments_are_usage_errors_with_exit_code_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["inspect"])
    assert caught.value.code == 2
    assert "required" in capsys.readouterr().err


# -- convert -----------------------------------------------------------------------------


def test_convert_to_python_says_which_file_it_wrote(capsys, tmp_path):
    code, out, err = run(capsys, "convert", str(EXAMPLE), "--to", "python", "-o", str(tmp_path))
    assert (code, err) == (0, "")
    assert out == f"wrote {tmp_path / 'churn.py'}\n"
    assert (tmp_path / "churn.py").exists()


def test_convert_json_lists_target_files_and_warnings(capsys, tmp_path):
    code, out, _ = run(
        capsys, "convert", str(EXAMPLE), "--to", "python", "-o", str(tmp_path), "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "target": "python",
        "files": [str(tmp_path / "churn.py")],
        "warnings": [],
    }


# -- real commands -----------------------------------------------------------------------


def test_the_console_script_prints_its_version():
    script = shutil.which("jupyter-mlops")
    assert script, "jupyter-mlops is installed with the package"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"jupyter-mlops {__version__}"


def test_the_jupyter_command_finds_the_mlops_subcommand():
    jupyter = shutil.which("jupyter") or shutil.which("jupyter", path=str(sys.prefix) + "/bin")
    if jupyter is None:
        pytest.skip("jupyter_core is not installed")
    result = subprocess.run(
        [jupyter, "mlops", "inspect", "examples/churn.ipynb", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    data = json.loads(result.stdout)
    assert data["notebook"] == "examples/churn.ipynb"
    assert [f["name"] for f in data["functions"]] == [
        "load_data",
        "prepare",
        "train",
        "evaluate",
        "predict",
    ]


def test_an_output_path_that_is_a_file_is_a_one_line_error(capsys, tmp_path):
    target = tmp_path / "taken"
    target.write_text("")
    try:
        result = run(capsys, "convert", str(EXAMPLE), "--to", "python", "-o", str(target))
    except OSError as err:
        pytest.fail(f"traceback instead of an error line: {err!r}")
    assert_user_error(*result, "taken")


def test_a_notebook_whose_cells_have_no_ids_runs_without_nbformat_noise(tmp_path):
    """Cells without ids are normal input (nbformat 4.4 files, hand-written ones): the run's
    terminal shows the run, not nbformat's MissingIDFieldWarning."""
    content = make_notebook(("x = 1", ["parameters"]), "print(x * 2)")
    for cell in content["cells"]:
        del cell["id"]
    (tmp_path / "old.ipynb").write_text(json.dumps(content), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "run", "old.ipynb", "-p", "x", "21"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout
    assert "Warning" not in result.stderr, result.stderr

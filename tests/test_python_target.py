"""``convert --to python``: a module that runs with plain Python and matches the notebook."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import (
    EXAMPLE,
    NASTY_TEXT,
    make_notebook,
    markdown,
    plan_of,
    run_cells_top_to_bottom,
)

from jupyter_mlops.convert.python_module import PythonModuleConverter, module_source
from jupyter_mlops.errors import ConvertError
from jupyter_mlops.notebook import parse_notebook

METRICS = ("accuracy", "f1", "roc_auc")


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_module(plan, folder: Path) -> Path:
    (path,) = PythonModuleConverter().convert(plan, folder).files
    return path


def metrics_json(stdout: str) -> dict:
    """The JSON object the module prints last (the notebook's own prints come first)."""
    return json.loads(stdout[stdout.index("\n{") + 1 :] if not stdout.startswith("{") else stdout)


@pytest.fixture(scope="module")
def churn_module(tmp_path_factory) -> Path:
    return write_module(parse_notebook(EXAMPLE), tmp_path_factory.mktemp("churn"))


@pytest.fixture(scope="module")
def notebook_metrics() -> dict:
    """The metrics of running the notebook's code cells top to bottom with C = 0.5."""
    namespace = run_cells_top_to_bottom(EXAMPLE, {"C": 0.5})
    return {name: namespace[name] for name in METRICS}


# -- the example -------------------------------------------------------------------------


def test_the_module_runs_with_plain_python_and_prints_its_metrics(churn_module, notebook_metrics):
    # When the generated module runs in a fresh interpreter with a parameter override
    result = subprocess.run(
        [sys.executable, str(churn_module), "--C", "0.5"],
        capture_output=True,
        text=True,
        cwd=churn_module.parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Then it prints the metrics as JSON, equal to running the notebook top to bottom
    metrics = metrics_json(result.stdout)
    assert set(metrics) == set(METRICS)
    assert metrics == pytest.approx(notebook_metrics, rel=1e-12)


def test_the_parameter_override_changes_the_result(churn_module, notebook_metrics):
    module = load_module(churn_module)
    default = module.run_pipeline(n_customers=400)
    changed = module.run_pipeline(n_customers=400, C=0.001)
    assert default["accuracy"] != changed["accuracy"] or default["f1"] != changed["f1"]


def test_importing_the_module_and_calling_run_pipeline_works(
    churn_module, notebook_metrics, capsys
):
    module = load_module(churn_module)
    outputs = module.run_pipeline(C=0.5)
    assert {name: outputs[name] for name in METRICS} == pytest.approx(notebook_metrics)
    assert outputs["C"] == 0.5
    assert type(outputs["model"]).__name__ == "LogisticRegression"
    assert "accuracy=" in capsys.readouterr().out  # the notebook's own print still runs


def test_the_module_exposes_defaults_metrics_and_one_def_per_function(churn_module):
    module = load_module(churn_module)
    assert module.PARAMETERS == {
        "n_customers": 2000,
        "test_size": 0.25,
        "C": 1.0,
        "max_iter": 300,
        "seed": 7,
        "tenure_months": 24,
        "charges": 70.0,
        "calls": 1,
        "contract_type": "monthly",
    }
    assert module.METRICS == METRICS
    for name in ("load_data", "prepare", "train", "evaluate"):
        assert callable(getattr(module, name))


def test_a_generated_function_can_be_called_on_its_own(churn_module):
    module = load_module(churn_module)
    customers = module.load_data(n_customers=50, seed=1)
    assert len(customers) == 50
    assert "churned" in customers.columns


def test_parameters_are_keyword_only_with_typed_defaults(churn_module):
    tree = ast.parse(churn_module.read_text(encoding="utf-8"))
    train = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert [a.arg for a in train.args.kwonlyargs] == ["C", "max_iter"]
    assert [ast.unparse(a.annotation) for a in train.args.kwonlyargs] == ["float", "int"]
    assert [ast.literal_eval(d) for d in train.args.kw_defaults] == [1.0, 300]


def test_the_module_does_not_need_jupyter_mlops(churn_module):
    assert (
        "jupyter_mlops" not in churn_module.read_text(encoding="utf-8").split("# ---- setup", 1)[1]
    )


def test_the_module_cli_rejects_a_value_of_the_wrong_type(churn_module, capsys):
    module = load_module(churn_module)
    with pytest.raises(SystemExit) as caught:
        module.main(["--C", "abc"])
    assert caught.value.code == 2
    assert "--C" in capsys.readouterr().err


def test_converting_writes_one_file_named_after_the_notebook(tmp_path):
    result = PythonModuleConverter().convert(parse_notebook(EXAMPLE), tmp_path / "new" / "dir")
    assert result.files == [tmp_path / "new" / "dir" / "churn.py"]
    assert result.warnings == []
    assert [p.name for p in (tmp_path / "new" / "dir").iterdir()] == ["churn.py"]


# -- text that must stay text ------------------------------------------------------------

NASTY = NASTY_TEXT  # the shared list, by its short local name


@pytest.fixture(scope="module")
def nasty_module(tmp_path_factory):
    parameters = "\n".join(f"p{i}: str = {value!r}  # h{i}" for i, value in enumerate(NASTY))
    parameters += f"\nα: float = 0.5  # Greek\nall_of_them = {NASTY!r}\n"
    by_text = {value: [value] for value in NASTY}
    parameters += f"by_text = {by_text!r}\n"
    names = ", ".join(f"p{i}" for i in range(len(NASTY)))
    plan = parse_notebook(
        make_notebook(
            markdown('# """Preparation""" \\ with \'quotes\'\n'),
            (parameters, "parameters"),
            (
                f"values = [{names}]\nscaled = α * 2\nboth = all_of_them, by_text",
                "mlops:fn:préparer",
            ),
        ),
        name='nasty "names".ipynb',
    )
    path = write_module(plan, tmp_path_factory.mktemp("nasty"))
    return plan, path


def test_nasty_parameter_values_give_a_module_that_parses(nasty_module):
    _, path = nasty_module
    ast.parse(path.read_text(encoding="utf-8"))


def test_nasty_parameter_values_are_only_ever_literals(nasty_module):
    _, path = nasty_module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "system" not in attributes
    assert "os" not in {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def test_nasty_parameter_defaults_round_trip(nasty_module):
    plan, path = nasty_module
    module = load_module(path)
    defaults = {p.name: p.default for p in plan.parameters}
    assert defaults == module.PARAMETERS
    outputs = module.run_pipeline()
    assert outputs["values"] == NASTY
    assert outputs["both"] == (NASTY, {v: [v] for v in NASTY})
    assert outputs["scaled"] == 1.0


def test_unicode_function_and_parameter_names_work_end_to_end(nasty_module, capsys):
    _, path = nasty_module
    module = load_module(path)
    assert module.préparer(α=0.25)[1] == 0.5
    assert module.main(["--α", "0.25", "--p0", "ça va"]) == 0
    assert json.loads(capsys.readouterr().out) == {}


def test_a_triple_quoted_string_keeps_its_exact_value(tmp_path):
    # Given a cell with a multi-line string whose lines are indented (or not) on purpose
    text = "first\n    indented\n\ttab\nno indent \\\\ backslash\n  end\n"
    code = f'query = """{text}"""\nraw = r"""a\\b\n  c"""\nsize = len(query)'
    plan = plan_of(("x = 1", "mlops:fn:a"), (code, "mlops:fn:strings"))
    # When it becomes a function in the module
    module = load_module(write_module(plan, tmp_path))
    outputs = module.run_pipeline()
    # Then the string has exactly the value it has in the notebook
    expected: dict = {}
    exec(code, expected)
    assert outputs["query"] == expected["query"]
    assert outputs["raw"] == "a\\b\n  c"


def test_a_multi_line_fstring_and_a_continued_line_keep_their_values(tmp_path):
    code = 'name = "x"\nmsg = f"""{name}\n  {name!r}\n"""\ntotal = 1 + \\\n    2'
    module = load_module(write_module(plan_of((code, "mlops:fn:a")), tmp_path))
    outputs = module.run_pipeline()
    assert outputs["msg"] == "x\n  'x'\n"
    assert outputs["total"] == 3


def test_magics_become_plain_python_in_the_module(tmp_path):
    plan = plan_of(("%matplotlib inline\nlines = !echo hi\nn = len(lines)", "mlops:fn:a"))
    assert load_module(write_module(plan, tmp_path)).run_pipeline()["n"] == 1


def test_a_cell_that_does_not_parse_is_a_convert_error_naming_it(tmp_path):
    plan = plan_of(("x = 1", "mlops:fn:a"), ("if x\n    y = 1", "mlops:fn:b"), name="w.ipynb")
    with pytest.raises(ConvertError) as caught:
        module_source(plan)
    assert (caught.value.notebook, caught.value.cell) == ("w.ipynb", 1)


def test_typed_parameters_are_parsed_on_the_module_command_line(tmp_path, capsys):
    parameters = (
        "mode: Literal['fast', 'slow'] = 'fast'\n"
        "limit: int | None = None\n"
        "flag: bool = True\n"
        "sizes: list[int] = [1, 2]\n"
    )
    plan = plan_of(
        (parameters, "parameters"),
        ("result = (mode, limit, flag, sizes)\nprint(repr(result))", "mlops:fn:a"),
    )
    module = load_module(write_module(plan, tmp_path))
    module.main(["--mode", "slow", "--limit", "3", "--flag", "false", "--sizes", "[4, 5]"])
    assert capsys.readouterr().out.startswith("('slow', 3, False, [4, 5])\n")
    with pytest.raises(SystemExit):
        module.main(["--mode", "medium"])
    assert "invalid choice" in capsys.readouterr().err


# -- known bugs --------------------------------------------------------------------------


def test_a_percent_sign_in_help_text_is_shown_by_help(tmp_path, capsys):
    plan = plan_of(
        ("share: float = 0.5  # share in % of total", "parameters"), ("x = share", "step:a")
    )
    module = load_module(write_module(plan, tmp_path))
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert "share in % of total" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["main", "run_pipeline", "json"])
def test_a_function_named_like_a_module_name_still_gives_a_working_module(name, tmp_path):
    plan = plan_of(("x = 1", f"mlops:fn:{name}"), ("y = x + 1", "mlops:fn:after"))
    path = write_module(plan, tmp_path)
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-500:]


def test_a_parameter_named_help_gives_a_working_command_line(tmp_path, capsys):
    plan = plan_of(("help: int = 1", "parameters"), ("x = help + 1", "mlops:fn:a"))
    try:
        path = write_module(plan, tmp_path)
    except ConvertError:  # refusing the name clearly is fine too
        return
    assert load_module(path).main([]) == 0


def test_numpy_metrics_are_printed_as_json_numbers(tmp_path, capsys):
    plan = plan_of(
        ("import numpy as np", "mlops:setup"),
        (
            "errors = np.array([1, 0, 1]).sum()\nok = np.bool_(True)",
            ["mlops:fn:a", "mlops:metrics"],
        ),
    )
    load_module(write_module(plan, tmp_path)).main([])
    # (a flag is not a metric: a tracked run does not record it either)
    assert json.loads(capsys.readouterr().out) == {"errors": 2}


def test_a_notebook_name_with_spaces_digits_and_accents_gives_an_importable_module(tmp_path):
    plan = plan_of(("x = 1", "mlops:fn:a"), name="2024 étude-finale.ipynb")
    path = write_module(plan, tmp_path)
    assert path.name == "nb_2024_étude_finale.py"
    assert load_module(path).run_pipeline() == {"x": 1}

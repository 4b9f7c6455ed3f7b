"""What a run is given, checked before anything starts: parameters, paths, sweep points,
and the in-notebook runtime API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import plan_of
from hypothesis import given
from hypothesis import strategies as st

from jupyter_mlops import log_artifact, log_metric, runtime
from jupyter_mlops.errors import ParameterError
from jupyter_mlops.execute.params import check_alias, check_parameters, split_choices
from jupyter_mlops.execute.sweep import Selector, expand
from jupyter_mlops.paths import PathError, notebook_in_root, resolve_in_root

PLAN = plan_of(
    (
        "alpha: float = 0.5  # learning rate\n"
        "epochs: int = 3\n"
        "name: str = 'x'\n"
        "layers: list[int] = [1, 2]\n"
        "mode: Literal['a', 'b'] = 'a'\n"
        "flag: bool = False",
        "parameters",
    ),
    ("y = alpha * epochs", "mlops:fn:train"),
)

# -- parameters --------------------------------------------------------------------------


def test_defaults_are_filled_in_and_text_is_parsed_by_the_declared_type():
    values = check_parameters(
        PLAN, {"alpha": "0.1", "epochs": "5", "layers": "[3, 4]", "flag": "true"}, as_text=True
    )
    assert values == {
        "alpha": 0.1,
        "epochs": 5,
        "name": "x",
        "layers": [3, 4],
        "mode": "a",
        "flag": True,
    }


def test_an_int_widens_to_float_but_a_string_is_refused_naming_parameter_and_types():
    assert check_parameters(PLAN, {"alpha": 2})["alpha"] == 2.0
    with pytest.raises(ParameterError) as raised:
        check_parameters(PLAN, {"alpha": "abc"}, as_text=True)
    message = str(raised.value)
    assert "'alpha'" in message
    assert "float" in message
    assert "'abc'" in message
    assert raised.value.parameter == "alpha"
    assert "notebook.ipynb" in message


@pytest.mark.parametrize("name", ["1abc", "class", "a-b", "x; import os", ""])
def test_a_name_that_is_not_an_identifier_is_refused(name):
    with pytest.raises(ParameterError, match="not a valid parameter name"):
        check_parameters(PLAN, {name: "1"}, as_text=True)


def test_an_undeclared_parameter_is_refused_listing_the_declared_ones():
    with pytest.raises(ParameterError, match=r"unknown parameter 'beta' \(parameters: alpha"):
        check_parameters(PLAN, {"beta": 1})


def test_literal_choices_and_nan_are_checked():
    with pytest.raises(ParameterError, match="one of"):
        check_parameters(PLAN, {"mode": "c"}, as_text=True)
    with pytest.raises(ParameterError, match="NaN"):
        check_parameters(PLAN, {"alpha": float("nan")})


@given(st.text())
def test_any_string_value_is_kept_exactly(text):
    assert check_parameters(PLAN, {"name": text}, as_text=True)["name"] == text


def test_aliases_are_short_plain_words():
    assert check_alias("production") == "production"
    for bad in ["", "../x", "a b", "1st", "x" * 65]:
        with pytest.raises(ParameterError, match="alias"):
            check_alias(bad)


# -- sweep values and points -------------------------------------------------------------


def test_choices_split_on_top_level_commas_only():
    assert split_choices("0.01,0.1, 1") == ["0.01", "0.1", "1"]
    assert split_choices("[1,2],[3,4]") == ["[1,2]", "[3,4]"]
    assert split_choices("'a,b',c") == ["'a,b'", "c"]
    assert split_choices('{"k": [1, 2]},{}') == ['{"k": [1, 2]}', "{}"]


def test_grid_is_every_combination_last_parameter_fastest():
    points = expand({"a": [1, 2], "b": ["x", "y", "z"]})
    assert points == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]
    assert expand({"a": [1, 2], "b": [3, 4]}, max_runs=3) == [
        *points[:0],
        {"a": 1, "b": 3},
        {"a": 1, "b": 4},
        {"a": 2, "b": 3},
    ]


def test_list_pairs_values_and_broadcasts_single_ones():
    assert expand({"a": [1, 2], "b": [3, 4], "c": [0]}, "list") == [
        {"a": 1, "b": 3, "c": 0},
        {"a": 2, "b": 4, "c": 0},
    ]
    with pytest.raises(ParameterError, match="same number of values"):
        expand({"a": [1, 2], "b": [3, 4, 5]}, "list")


def test_random_samples_without_replacement_and_is_seeded():
    space = {"a": list(range(10)), "b": list(range(10))}
    first = expand(space, "random", max_runs=30, seed=7)
    assert len(first) == 30
    assert len({(p["a"], p["b"]) for p in first}) == 30  # no point twice
    assert first == expand(space, "random", max_runs=30, seed=7)
    assert first != expand(space, "random", max_runs=30, seed=8)
    assert len(expand({"a": [1, 2]}, "random", max_runs=50, seed=1)) == 2  # capped by the grid


def test_random_sampling_never_builds_a_huge_grid():
    space = {f"p{i}": list(range(100)) for i in range(6)}  # 10**12 points
    points = expand(space, "random", max_runs=5, seed=0)
    assert len(points) == 5
    assert all(set(p) == set(space) for p in points)


def test_bad_sweep_settings_are_refused():
    with pytest.raises(ParameterError, match="strategy"):
        expand({"a": [1]}, "bayes")
    with pytest.raises(ParameterError, match="max-runs"):
        expand({"a": [1]}, max_runs=0)
    with pytest.raises(ParameterError, match="no values"):
        expand({"a": []})
    for text in ["accuracy", "best:accuracy", "max:"]:
        with pytest.raises(ParameterError, match="max:METRIC"):
            Selector.parse(text)


# -- paths -------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "root"
    (project / "sub").mkdir(parents=True)
    (project / "sub" / "nb.ipynb").write_text("{}")
    (project / "ünï côdé.ipynb").write_text("{}")
    (tmp_path / "root-sibling").mkdir()
    (tmp_path / "root-sibling" / "x.ipynb").write_text("{}")
    (project / "escape.ipynb").symlink_to(tmp_path / "root-sibling" / "x.ipynb")
    (project / ".env").write_text("SECRET=1")
    return project


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "a/../../b.ipynb",
        "../root-sibling/x.ipynb",
        "/etc/passwd",
        "C:\\Users\\x.ipynb",
        "sub\\nb.ipynb",
        "file:///etc/passwd",
        "http://example.com/nb.ipynb",
        "s3://bucket/nb.ipynb",
        "-",
        "%2e%2e/%2e%2e/etc/passwd",
        "%252e%252e%252fetc",
        "nb.ipynb#frag",
        "nb.ipynb?x=1",
        "nb\x00.ipynb",
        "nb\n.ipynb",
        ".env",
        "sub/.hidden/nb.ipynb",
        "escape.ipynb",
        "",
    ],
)
def test_paths_outside_the_root_or_of_a_refused_form_are_refused(root, path):
    with pytest.raises(PathError):
        notebook_in_root(root, path)


def test_paths_inside_the_root_resolve_including_unicode_and_spaces(root):
    assert notebook_in_root(root, "sub/nb.ipynb") == root / "sub" / "nb.ipynb"
    assert notebook_in_root(root, "ünï côdé.ipynb").name == "ünï côdé.ipynb"
    assert notebook_in_root(root, str(root / "sub" / "nb.ipynb")) == root / "sub" / "nb.ipynb"
    assert resolve_in_root(root, "./sub") == root / "sub"
    with pytest.raises(PathError, match="no notebook"):
        notebook_in_root(root, "missing.ipynb")
    with pytest.raises(PathError, match="not a notebook"):
        notebook_in_root(root, "sub")


# -- the runtime API ---------------------------------------------------------------------


def test_outside_a_tracked_run_logging_warns_once_and_records_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv(runtime.RUN_DIR_VARIABLE, raising=False)
    monkeypatch.setattr(runtime, "_warned", False)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(RuntimeWarning, match="not inside a tracked run"):
        assert log_metric("accuracy", 0.9) == 0.9
    log_metric("accuracy", 0.95)  # once only: no second warning (warnings are errors here)
    assert list(tmp_path.iterdir()) == []


def test_inside_a_run_metrics_and_artifacts_are_appended(monkeypatch, tmp_path):
    monkeypatch.setenv(runtime.RUN_DIR_VARIABLE, str(tmp_path))
    source = tmp_path / "report.txt"
    source.write_text("hello")
    log_metric("loss", 1)
    log_artifact(source)
    log_artifact({"a": 1}, "config/params")
    metrics = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert metrics == [{"name": "loss", "value": 1.0}]
    records = [json.loads(x) for x in (tmp_path / "artifacts.jsonl").read_text().splitlines()]
    assert [(r["name"], r["kind"]) for r in records] == [
        ("report.txt", "file"),
        ("config/params", "value"),
    ]
    assert all((tmp_path / "artifacts" / r["file"]).is_file() for r in records)


@pytest.mark.parametrize("name", ["../x", "/abs", "a//b", ".hidden", "a\\b", "c:d", "x\n"])
def test_artifact_and_metric_names_cannot_escape_the_run_folder(monkeypatch, tmp_path, name):
    monkeypatch.setenv(runtime.RUN_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(ValueError, match="not allowed"):
        log_artifact(1, name)
    with pytest.raises(ValueError, match="not allowed"):
        log_metric(name, 1.0)


def test_metric_values_must_be_finite_numbers(monkeypatch, tmp_path):
    monkeypatch.setenv(runtime.RUN_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(TypeError, match="expected a number"):
        log_metric("m", "high")
    with pytest.raises(ValueError, match="finite"):
        log_metric("m", float("inf"))
    assert not os.path.exists(tmp_path / "metrics.jsonl")

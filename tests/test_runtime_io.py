"""Values passed between functions as files: each kind round-trips in its own format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.convert.runtime_io import mlops_load, mlops_save, runtime_source


@pytest.fixture
def round_trip(tmp_path, capsys):
    """Save a value, load it back; return (format, loaded value, what was said on stderr)."""

    def run(value, name="value"):
        path = tmp_path / name
        fmt = mlops_save(name, value, str(path))
        loaded = mlops_load(str(path))
        return fmt, loaded, capsys.readouterr().err

    return run


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -7,
        2**70,
        1.5,
        float("inf"),
        "",
        'text with ünïcode and "quotes"\n',
        [],
        {},
        [1, "a", None, [2.5, False]],
        {"a": [1, 2], "b": {"c": None}},
    ],
)
def test_plain_json_values_round_trip_as_json(round_trip, value):
    fmt, loaded, said = round_trip(value)
    assert fmt == "json"
    assert loaded == value
    assert type(loaded) is type(value)
    assert said == ""


def test_a_plain_value_is_stored_as_readable_json(tmp_path):
    mlops_save("v", {"a": [1, 2]}, str(tmp_path / "v"))
    assert json.loads((tmp_path / "v").read_text()) == {"a": [1, 2]}


@pytest.mark.parametrize(
    "value",
    [(1, 2), (), ("a", (1, (2,))), [(1, 2), (3,)], {"pair": (1, 2)}],
)
def test_tuples_come_back_as_tuples(round_trip, value):
    fmt, loaded, _ = round_trip(value)
    assert fmt == "json"
    assert loaded == value
    assert repr(loaded) == repr(value)


@pytest.mark.parametrize(
    "value",
    [{1: "a", 2: "b"}, {(1, 2): 3}, {True: 1, None: 2, 1.5: 3}, {"a": {1: [2]}}],
)
def test_dicts_with_keys_that_are_not_text_keep_their_keys(round_trip, value):
    fmt, loaded, _ = round_trip(value)
    assert fmt == "json"
    assert loaded == value
    assert [type(k) for k in loaded] == [type(k) for k in value]


@pytest.mark.parametrize(
    "value",
    [
        {"__mlops__": "tuple", "items": [1, 2]},
        {"__mlops__": "dict", "items": [[1, 2]]},
        {"__mlops__": "pandas.DataFrame", "table": {}},
        [{"__mlops__": "tuple", "items": []}],
        {"outer": {"__mlops__": "tuple", "items": [1]}},
    ],
)
def test_a_users_dict_with_the_key_mlops_is_not_mistaken_for_a_wrapper(round_trip, value):
    _, loaded, _ = round_trip(value)
    assert loaded == value
    assert type(loaded) is type(value)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(5),
        np.array([[1.5, 2.0], [3.0, 4.5]], dtype="float32"),
        np.array(["a", "bc"]),
        np.array([True, False]),
        np.array([1 + 2j]),
        np.array(["2024-01-01"], dtype="datetime64[D]"),
        np.zeros((0, 3)),
    ],
)
def test_numeric_numpy_arrays_round_trip_as_npy(round_trip, array):
    fmt, loaded, said = round_trip(array)
    assert fmt == "npy"
    assert isinstance(loaded, np.ndarray)
    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
    assert said == ""


def test_npy_files_are_written_without_pickle(tmp_path):
    mlops_save("a", np.arange(3), str(tmp_path / "a"))
    assert (tmp_path / "a").read_bytes().startswith(b"\x93NUMPY")
    np.load(tmp_path / "a", allow_pickle=False)


def test_object_arrays_fall_back_to_pickle(round_trip):
    fmt, loaded, said = round_trip(np.array([1, None], dtype=object), "mixed")
    assert fmt == "pickle"
    assert list(loaded) == [1, None]
    assert "mixed" in said


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [1.5, None]}, index=[10, 20]),
        pd.DataFrame({"a": [True, False]}, index=pd.Index(["r1", "r2"], name="row")),
        pd.DataFrame({"a": pd.Categorical(["x", "y", "x"])}),
    ],
)
def test_dataframes_round_trip_as_json_tables(round_trip, frame):
    fmt, loaded, said = round_trip(frame)
    assert fmt == "json"
    pd.testing.assert_frame_equal(loaded, frame)
    assert said == ""


def test_a_named_series_round_trips_as_a_json_table(round_trip):
    series = pd.Series([1.0, 2.5, 3.0], index=["a", "b", "c"], name="score")
    fmt, loaded, _ = round_trip(series)
    assert fmt == "json"
    pd.testing.assert_series_equal(loaded, series)


def test_an_unnamed_series_round_trips_without_a_name(round_trip):
    series = pd.Series([1, 2, 3])
    _, loaded, _ = round_trip(series)
    pd.testing.assert_series_equal(loaded, series)


def test_a_frame_the_table_format_cannot_hold_falls_back_and_is_still_equal(round_trip):
    frame = pd.DataFrame({0: [1, 2], 1: [3, 4]})  # integer column names
    fmt, loaded, said = round_trip(frame, "numbers")
    pd.testing.assert_frame_equal(loaded, frame)
    if fmt == "pickle":
        assert "numbers" in said


def test_a_fitted_model_falls_back_to_pickle_and_says_so(round_trip):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    fmt, loaded, said = round_trip(model, "model")
    assert fmt == "pickle"
    assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]
    assert said == "[mlops] model: LogisticRegression stored with pickle (no portable format)\n"


def test_each_pickle_fallback_is_announced(round_trip):
    for name in ("first", "second"):
        fmt, loaded, said = round_trip(np.float64(1.5), name)
        assert fmt == "pickle"
        assert loaded == 1.5
        assert said.startswith(f"[mlops] {name}: float64 stored with pickle")


def test_the_runtime_source_is_self_contained_and_defines_save_and_load(tmp_path):
    # Given the code that generated notebooks and components paste in
    source = runtime_source()
    assert '"""' not in source.split("\n", 1)[0]
    assert "runtime_source" not in source
    namespace: dict = {}
    # When it runs on its own
    exec(compile(source, "<runtime>", "exec"), namespace)
    # Then its save and load work like the module's
    namespace["mlops_save"]("t", (1, {2: "b"}), str(tmp_path / "t"))
    assert mlops_load(str(tmp_path / "t")) == (1, {2: "b"})
    assert namespace["mlops_load"](str(tmp_path / "t")) == (1, {2: "b"})

"""The parameters cell: typed, documented literal assignments, and checking values."""

from __future__ import annotations

import ast
import math

import pytest
from conftest import NASTY_TEXT, plan_of
from hypothesis import given
from hypothesis import strategies as st

from jupyter_mlops.convert.codegen import literal
from jupyter_mlops.errors import ConvertError, TagError
from jupyter_mlops.notebook.parameters import (
    ParamType,
    check_name,
    infer_type,
    parse_annotation,
    parse_parameters,
    read_parameters_cell,
)


def one(code: str):
    (parameter,) = parse_parameters(1, code, notebook="nb.ipynb")
    return parameter


# -- declarations ------------------------------------------------------------------------


def test_annotated_assignment_gives_name_type_default_and_help():
    parameter = one("alpha: float = 0.5  # learning rate")
    assert (parameter.name, str(parameter.type), parameter.default, parameter.help) == (
        "alpha",
        "float",
        0.5,
        "learning rate",
    )
    assert (parameter.cell, parameter.line) == (1, 1)


@pytest.mark.parametrize(
    ("code", "type_text", "default"),
    [
        ("n = 10", "int", 10),
        ("rate = 0.1", "float", 0.1),
        ("name = 'x'", "str", "x"),
        ("flag = True", "bool", True),
        ("items = [1, 2]", "list", [1, 2]),
        ("table = {'a': 1}", "dict", {"a": 1}),
        ("pair = (1, 'a')", "tuple", (1, "a")),
        ("nothing = None", "Any", None),
        ("neg = -3", "int", -3),
        ("small = 1e-3", "float", 0.001),
    ],
)
def test_type_is_inferred_from_the_literal_without_an_annotation(code, type_text, default):
    parameter = one(code)
    assert str(parameter.type) == type_text
    assert parameter.default == default


def test_a_none_default_without_annotation_is_an_optional_any():
    assert one("x = None").type == ParamType("any", optional=True)


@pytest.mark.parametrize(
    ("code", "type_text", "default"),
    [
        ("x: list[int] = [1, 2]", "list[int]", [1, 2]),
        ("x: List[int] = [1]", "list[int]", [1]),
        ("x: typing.List[str] = []", "list[str]", []),
        ("x: dict[str, float] = {'a': 1}", "dict[str, float]", {"a": 1.0}),
        ("x: tuple[int, ...] = (1, 2)", "tuple[int, ...]", (1, 2)),
        ("x: Optional[int] = None", "int | None", None),
        ("x: int | None = 4", "int | None", 4),
        ("x: None | str = None", "str | None", None),
        ("x: Literal['a', 'b'] = 'a'", "Literal['a', 'b']", "a"),
        ("x: Optional[Literal[1, 2]] = None", "Literal[1, 2] | None", None),
        ("x: 'float' = 2.5", "float", 2.5),
        ("x: Any = {'anything': [1]}", "Any", {"anything": [1]}),
        ("x: list[list[int]] = [[1], [2]]", "list[list[int]]", [[1], [2]]),
    ],
)
def test_annotations_give_the_type(code, type_text, default):
    parameter = one(code)
    assert str(parameter.type) == type_text
    assert parameter.default == default


def test_an_int_default_for_a_float_parameter_becomes_a_float():
    parameter = one("x: float = 1")
    assert parameter.default == 1.0
    assert type(parameter.default) is float


def test_a_comment_line_above_an_assignment_is_its_help():
    first, second = parse_parameters(0, "# how many trees\nn = 100\nm = 2\n")
    assert first.help == "how many trees"
    assert second.help == ""


def test_the_trailing_comment_wins_over_the_comment_above():
    assert one("# above\nn = 1  # trailing").help == "trailing"


def test_a_multi_line_literal_takes_the_comment_of_its_last_line():
    parameter = one("layers = [\n    64,\n    32,\n]  # sizes of the hidden layers")
    assert parameter.default == [64, 32]
    assert parameter.help == "sizes of the hidden layers"


def test_parameters_keep_their_order_and_lines():
    parameters = parse_parameters(0, "b = 1\n\na = 2\n")
    assert [(p.name, p.line) for p in parameters] == [("b", 1), ("a", 3)]


def test_an_empty_parameters_cell_declares_nothing():
    assert parse_parameters(0, "# nothing here\n") == []


def test_parameters_to_dict_is_json_ready():
    assert one("x: int = 3  # help").to_dict() == {
        "name": "x",
        "type": "int",
        "default": 3,
        "help": "help",
    }


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "x = 1 + 2",
        "x = foo()",
        "x = [i for i in range(3)]",
        "x: float = float('nan')",
        "x = y",
        "import os",
        "print(1)",
        "def f(): pass",
        "a = b = 1",
        "a, b = 1, 2",
        "x.y = 1",
        "x[0] = 1",
    ],
)
def test_anything_but_a_literal_assignment_stays_as_code_and_is_no_parameter(code):
    cell = read_parameters_cell(3, f"kept = 1\n{code}", notebook="nb.ipynb")
    assert [p.name for p in cell.parameters] == ["kept"]
    assert [(k.line, k.text) for k in cell.kept] == [(2, code)]


def test_a_string_on_its_own_line_is_neither_a_parameter_nor_code_to_keep():
    cell = read_parameters_cell(0, "'the parameters'\nx = 1")
    assert [p.name for p in cell.parameters] == ["x"]
    assert cell.kept == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("x = (", "does not parse"),
        ("x = 1\nx = 2", "assigned twice"),
        ("x = 1\nx += 1", "also assigned by code on line 2"),
        ("import x\nx = 1", "also assigned by code on line 1"),
    ],
)
def test_what_a_run_could_not_honour_is_a_tag_error(code, message):
    with pytest.raises(TagError, match=message) as caught:
        parse_parameters(2, code)
    assert caught.value.cell == 2


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("x: float = 'abc'", "expected float, got str 'abc'"),
        ("x: int = 1.5", "expected int, got float 1.5"),
        ("x: int = True", "expected int, got bool True"),
        ("x: bool = 1", "expected bool, got int 1"),
        ("x: list[int] = [1, 'a']", r"default\[1\]: expected int"),
        ("x: dict[str, int] = {1: 2}", "key: expected str"),
        ("x: Literal['a'] = 'b'", "expected one of"),
        ("x: str = None", "expected str, got None"),
    ],
)
def test_a_default_of_the_wrong_type_is_a_tag_error(code, message):
    with pytest.raises(TagError, match=message) as caught:
        parse_parameters(0, code)
    assert "parameter 'x'" in str(caught.value)


@pytest.mark.parametrize(
    "code",
    ["x: complex = 1", "x: Foo = 1", "x: int | str = 1", "x: set[int] = [1]", "x: Callable = 1"],
)
def test_an_unsupported_annotation_is_a_tag_error(code):
    with pytest.raises(TagError, match="not supported"):
        parse_parameters(0, code)


@pytest.mark.parametrize("code", ["x = 1j", "x = {1, 2}", "x = b'bytes'", "x = ..."])
def test_a_value_of_an_unsupported_type_is_a_tag_error(code):
    with pytest.raises(TagError, match="cannot be parameters"):
        parse_parameters(0, code)


@pytest.mark.parametrize("name", ["class", "None", "1x", "a-b", "mlops_run", ""])
def test_bad_parameter_names_are_tag_errors(name):
    with pytest.raises(TagError):
        check_name(name)


@pytest.mark.parametrize("name", ["alpha", "α", "_private", "C", "n_estimators"])
def test_identifiers_are_good_parameter_names(name):
    check_name(name)


def test_reserved_prefix_in_a_parameters_cell_is_a_tag_error():
    with pytest.raises(TagError, match="reserved"):
        parse_parameters(0, "mlops_seed = 1")


def test_a_parameter_declared_in_two_cells_is_a_tag_error():
    with pytest.raises(TagError, match="declared again") as caught:
        plan_of(("x = 1", "parameters"), ("x = 2", "parameters"), ("y = x", "mlops:fn:a"))
    assert caught.value.cell == 1


def test_code_in_a_parameters_cell_is_named_in_a_warning_with_its_cell_and_line():
    plan = plan_of("import os", ("path = os.getcwd()", "parameters"), ("y = path", "mlops:fn:a"))
    (warning,) = [w for w in plan.warnings if w.cell == 1]
    assert warning.message.startswith("parameters cell line 1: `path = os.getcwd()`")
    assert plan.parameters == []


# -- ParamType.check ---------------------------------------------------------------------


def t(annotation: str) -> ParamType:
    return parse_annotation(annotation)


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        ("float", 1, 1.0),
        ("float", float("inf"), float("inf")),
        ("int", 10**30, 10**30),
        ("list[int]", (1, 2), [1, 2]),
        ("list[float]", [1, 2.5], [1.0, 2.5]),
        ("dict[str, float]", {"a": 1}, {"a": 1.0}),
        ("int | None", None, None),
        ("Literal[1, 2]", 2, 2),
        ("Any", None, None),
        ("list", [1, "a"], [1, "a"]),
        ("tuple[int, ...]", (1, 2), (1, 2)),
    ],
)
def test_check_accepts_values_of_the_type(annotation, value, expected):
    result = t(annotation).check(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        ("float", "abc", "expected float, got str 'abc'"),
        ("float", True, "expected float, got bool"),
        ("int", True, "expected int, got bool"),
        ("int", 1.0, "expected int, got float"),
        ("str", 5, "expected str, got int"),
        ("int", None, "expected int, got None"),
        ("float", float("nan"), "NaN"),
        ("list[float]", [1.0, float("nan")], "NaN"),
        ("str", -(10**400), "expected str, got int an integer of about 400 digits"),
        ("list[int]", [1, 2.0], r"alpha\[1\]: expected int"),
        ("Literal[1, 2]", True, "expected one of"),
        ("Literal[1, 2]", 1.0, "expected one of"),
        ("dict[str, int]", {1: 2}, "key: expected str"),
        ("dict", [1], "expected dict"),
    ],
)
def test_check_rejects_values_of_another_type_naming_parameter_and_types(
    annotation, value, message
):
    with pytest.raises(ValueError, match=message) as caught:
        t(annotation).check(value, where="alpha")
    assert str(caught.value).startswith("alpha")


def test_check_error_for_a_long_value_is_shortened():
    with pytest.raises(ValueError, match="expected int") as caught:
        t("int").check("x" * 500, where="n")
    assert len(str(caught.value)) < 120


# -- ParamType.parse_text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "text", "expected"),
    [
        ("float", "0.5", 0.5),
        ("float", "1e-3", 0.001),
        ("float", "3", 3.0),
        ("int", "7", 7),
        ("int", " 7 ", 7),
        ("str", "[1]", "[1]"),
        ("str", "", ""),
        ("bool", "true", True),
        ("bool", "False", False),
        ("bool", "yes", True),
        ("bool", "0", False),
        ("list[int]", "[1, 2]", [1, 2]),
        ("list[str]", "['a', 'b']", ["a", "b"]),
        ("dict[str, int]", '{"a": 1}', {"a": 1}),
        ("tuple[int, ...]", "(1, 2)", (1, 2)),
        ("int | None", "None", None),
        ("int | None", "null", None),
        ("int | None", "3", 3),
        ("str | None", "None", None),
        ("Literal['a', 'b']", "b", "b"),
        ("Literal[1, 2]", "2", 2),
        ("Any", "hello", "hello"),
        ("Any", "[1, 2]", [1, 2]),
        ("Any", "3", 3),
    ],
)
def test_parse_text_reads_command_line_values_as_the_type(annotation, text, expected):
    result = t(annotation).parse_text(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        ("float", "abc"),
        ("float", "nan"),
        ("int", "9" * 5000),  # past Python's 4,300-digit limit: an error, and a short one
        ("int", "1.5"),
        ("int", "None"),
        ("bool", "maybe"),
        ("list[int]", "[1, 'a']"),
        ("list[int]", "not a list"),
        ("Literal['a', 'b']", "c"),
        ("Literal[1, 2]", "3"),
        ("dict[str, int]", "{"),
    ],
)
def test_parse_text_rejects_text_that_is_not_of_the_type(annotation, text):
    with pytest.raises(ValueError, match="alpha") as caught:
        t(annotation).parse_text(text, where="alpha")
    assert len(str(caught.value)) < 200  # a huge value is not repeated whole in the message


def test_parse_text_error_names_expected_type_and_given_text():
    with pytest.raises(ValueError, match="alpha: expected float, got 'abc'"):
        t("float").parse_text("abc", where="alpha")


def test_a_tuple_parameter_accepts_a_json_list():
    assert t("tuple[int, ...]").parse_text("[1, 2]") == (1, 2)


@pytest.mark.parametrize(
    ("annotation", "base"),
    [("float", "float"), ("Literal['a']", "str"), ("Literal[1, 2]", "int"), ("int | None", "int")],
)
def test_base_is_the_json_level_kind(annotation, base):
    assert t(annotation).base == base


def test_infer_type_rejects_objects():
    with pytest.raises(ValueError, match="cannot be parameters"):
        infer_type(object())


@pytest.mark.parametrize(
    "text", ["List[int]", "Dict[str, int]", "Tuple[int, ...]", "Optional[str]"]
)
def test_typing_spellings_have_canonical_text(text):
    assert (
        str(t(text))
        == {
            "List[int]": "list[int]",
            "Dict[str, int]": "dict[str, int]",
            "Tuple[int, ...]": "tuple[int, ...]",
            "Optional[str]": "str | None",
        }[text]
    )


def test_annotation_text_that_does_not_parse_is_a_value_error():
    with pytest.raises(ValueError, match="does not parse"):
        parse_annotation("list[")


# -- literals in generated code ----------------------------------------------------------


texts = st.one_of(st.text(), st.sampled_from(NASTY_TEXT))
values = st.recursive(
    st.one_of(
        texts,
        st.integers(),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(texts, children, max_size=4),
        st.tuples(children, children),
    ),
    max_leaves=12,
)


@given(texts)
def test_literal_of_any_text_reads_back_as_the_same_text(text):
    assert ast.literal_eval(literal(text)) == text


@given(values)
def test_literal_of_nested_lists_and_dicts_of_text_reads_back_equal(value):
    rendered = literal(value)
    assert ast.literal_eval(rendered) == value


@given(texts)
def test_literal_text_is_a_single_expression_with_no_statements(text):
    tree = ast.parse(literal(text), mode="eval")
    assert isinstance(tree.body, ast.Constant)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), object()])
def test_literal_refuses_values_that_do_not_read_back(value):
    with pytest.raises(ConvertError, match="cannot be written as a Python literal"):
        literal(value)


def test_infinity_is_a_float_default():
    assert math.isinf(one("x = 1e999").default)

"""Static analysis of a block of cells: what it reads from outside and what it defines."""

from __future__ import annotations

import pytest

from jupyter_mlops.notebook.analysis import (
    BlockNames,
    CellSyntaxError,
    Position,
    analyze_block,
    statement_names,
)


def names(*cells: str) -> BlockNames:
    """Analyze cells 0, 1, 2... as one block."""
    return analyze_block(list(enumerate(cells)))


def reads(*cells: str) -> set[str]:
    return set(names(*cells).reads)


# -- reads and binds in order ------------------------------------------------------------


def test_a_name_read_before_it_is_bound_is_an_outside_read():
    block = names("y = x + 1", "x = 2")
    assert set(block.reads) == {"x"}
    assert block.defined == {"x", "y"}


def test_a_name_bound_before_it_is_read_is_not_an_outside_read():
    assert reads("x = 1", "y = x") == set()


def test_reads_remember_where_the_first_read_is():
    block = names("a = 1", "b = 2\nc = value\nd = value")
    assert block.reads == {"value": Position(cell=1, line=2)}


def test_builtins_are_reported_as_reads_for_the_caller_to_ignore():
    assert reads("n = len(items)") == {"len", "items"}


def test_attribute_and_subscript_reads_count_the_base_name():
    assert reads("y = config.model['depth']") == {"config"}


def test_fstring_reads_count():
    assert reads("label = f'{prefix}-{n:03d}'") == {"prefix", "n"}


def test_annotated_assignment_reads_the_annotation_and_binds_the_target():
    block = names("x: int = width")
    assert set(block.reads) == {"int", "width"}
    assert block.defined == {"x"}


# -- scopes ------------------------------------------------------------------------------


def test_a_def_body_runs_later_so_names_bound_after_it_are_not_outside_reads():
    block = names("def area():\n    return width * height", "width = 2\nheight = 3")
    assert set(block.reads) == set()
    assert block.defined == {"area", "width", "height"}


def test_a_def_body_reading_a_name_bound_nowhere_is_an_outside_read():
    assert reads("def predict(x):\n    return model.predict(x)") == {"model"}


def test_locals_and_arguments_of_a_def_are_not_outside_reads():
    assert reads("def f(a, *args, b=1, **kw):\n    c = a + b\n    return c, args, kw") == set()


def test_nested_def_free_names_are_outside_reads():
    assert reads("def outer():\n    def inner():\n        return free\n    return inner") == {
        "free"
    }


def test_default_values_and_decorators_are_read_at_once():
    assert reads("@cache\ndef f(a=default):\n    return a", "cache = 1\ndefault = 2") == {
        "cache",
        "default",
    }


def test_a_lambda_body_is_read_at_once():
    assert reads("g = lambda: w", "w = 1") == {"w"}


def test_lambda_arguments_are_not_outside_reads():
    assert reads("g = lambda a, b=c: a + b") == {"c"}


def test_a_comprehension_is_read_at_once():
    assert reads("r = [i * k for i in range(3)]", "k = 2") == {"k", "range"}


def test_comprehension_variables_are_not_outside_reads():
    assert reads("pairs = [(i, j) for i in rows for j in i if j]") == {"rows"}


@pytest.mark.parametrize(
    "code",
    [
        "x = [i for i in range(3)]",
        "x = {i for i in range(3)}",
        "x = {i: i for i in range(3)}",
        "x = list(i for i in range(3))",
    ],
)
def test_comprehension_variables_do_not_leak_into_the_block(code):
    block = names(code)
    assert "i" not in block.defined
    assert "i" in names(code, "print(i)").reads


def test_a_comprehension_first_iterable_runs_in_the_outer_scope():
    assert reads("x = 1\nys = [x for x in range(x)]") == {"range"}


def test_a_walrus_in_a_comprehension_binds_in_the_block():
    assert "total" in names("xs = [total := total + v for v in values]").defined


def test_class_bases_and_keywords_are_read_at_once():
    assert reads("class Model(Base, metaclass=Meta):\n    pass") == {"Base", "Meta"}


def test_a_method_body_runs_later():
    assert reads("class K:\n    def m(self):\n        return later", "later = 1") == set()


def test_a_class_body_runs_at_once():
    assert reads("class Config:\n    size = width", "width = 3") == {"width"}


# -- changes in place --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("model.fit(X, y)", "model"),
        ("df['a'] = 1", "df"),
        ("df.loc[0, 'a'] = 1", "df"),
        ("obj.attr = 3", "obj"),
        ("items.append(4)", "items"),
        ("x[0].y.append(1)", "x"),
        ("del table['col']", "table"),
        ("counts['a'] += 1", "counts"),
        ("df.dropna(inplace=True)", "df"),
        ("result = df.sort_values('a', inplace=True)", "df"),
    ],
)
def test_changing_an_object_in_place_counts_as_defining_it(code, name):
    block = names(code)
    assert name in block.reads
    assert name in block.modified
    assert name in block.defined


@pytest.mark.parametrize(
    "code", ["df.head()", "df.describe()", "fig.savefig('a.png')", "df.to_csv('a.csv')"]
)
def test_display_and_export_methods_do_not_count_as_changes(code):
    assert names(code).modified == {}


def test_calling_a_method_of_an_imported_module_is_not_a_change_of_the_module():
    block = names("import numpy as np\nnp.random.seed(0)")
    assert "np" not in block.modified


def test_a_method_call_inside_an_expression_is_not_a_change():
    assert names("n = items.pop()").modified == {}


def test_last_definition_is_the_latest_bind_or_change():
    block = names("model = make()", "model.fit(X)")
    assert block.last_definition("model") == Position(cell=1, line=1)
    assert block.last_definition("nothing") is None


# -- augmented assignment and del --------------------------------------------------------


def test_augmented_assignment_reads_and_binds_the_name():
    block = names("total += 1")
    assert set(block.reads) == {"total"}
    assert block.defined == {"total"}
    assert "total" in block.top_assigned


def test_augmented_assignment_after_a_bind_is_not_an_outside_read():
    assert reads("total = 0\ntotal += 1") == set()


def test_del_of_a_name_leaves_it_undefined():
    block = names("tmp = 1\ndel tmp")
    assert block.defined == set()
    assert "tmp" in block.deleted


def test_del_of_a_name_never_bound_is_an_outside_read():
    block = names("del leftover")
    assert set(block.reads) == {"leftover"}
    assert block.defined == set()


def test_a_name_bound_again_after_del_is_defined():
    assert names("x = 1\ndel x\nx = 2").defined == {"x"}


def test_a_read_after_del_is_an_outside_read():
    assert reads("x = 1\ndel x\ny = x") == {"x"}


# -- global ------------------------------------------------------------------------------


def test_global_assignment_in_a_def_binds_the_module_name():
    block = names("def reset():\n    global counter\n    counter = 0")
    assert "counter" in block.defined
    assert block.global_decls == [(Position(cell=0, line=2), "counter")]


def test_global_read_in_a_def_is_an_outside_read():
    assert reads("def show():\n    global counter\n    return counter") == {"counter"}


def test_global_at_module_level_changes_nothing():
    block = names("global x\nx = 1")
    assert block.defined == {"x"}
    assert block.global_decls == []


# -- imports and hidden names ------------------------------------------------------------


def test_imports_bind_their_names_and_record_the_modules():
    block = names("import numpy as np\nimport os.path\nfrom sklearn.svm import SVC as Model")
    assert block.defined == {"np", "os", "Model"}
    assert block.imports == {"np": "numpy", "os": "os", "Model": "sklearn.svm.SVC"}


def test_top_level_imports_defs_and_classes_are_portable_code():
    block = names("import math\ndef area(r):\n    return math.pi * r * r\nclass K:\n    pass")
    assert block.portable["math"] == "import math"
    assert block.portable["area"].startswith("def area(r):")
    assert block.portable["K"].startswith("class K")


def test_a_name_reassigned_after_its_def_is_no_longer_portable():
    assert "f" not in names("def f():\n    return 1\nf = 2").portable


def test_relative_imports_keep_their_dots():
    assert names("from .helpers import clean").imports == {"clean": ".helpers.clean"}


def test_star_import_is_reported_with_its_module():
    block = names("x = 1", "from os.path import *")
    assert block.star_imports == [(Position(cell=1, line=1), "os.path")]


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("exec('q = 1')", "exec()"),
        ("v = eval('1 + 1')", "eval()"),
        ("globals()['q'] = 1", "globals()"),
        ("print(locals())", "locals()"),
        ("m = __import__('os')", "__import__()"),
    ],
)
def test_exec_eval_and_namespace_calls_are_reported(code, what):
    assert names(code).dynamic == [(Position(cell=0, line=1), what)]


def test_top_level_await_is_reported():
    assert names("x = 1", "await fetch()").awaits == [Position(cell=1, line=1)]


def test_internal_names_are_invisible():
    block = names("_mlops_tmp = 1\ny = _mlops_other")
    assert "_mlops_tmp" not in block.defined
    assert set(block.reads) == set()


# -- surely and maybe bound --------------------------------------------------------------


def test_a_name_bound_on_both_branches_of_if_else_is_surely_bound():
    block = names("if flag:\n    x = 1\nelse:\n    x = 2\ny = x")
    assert set(block.reads) == {"flag"}
    assert "x" in block.surely_bound


def test_a_name_bound_on_one_branch_only_is_maybe_bound():
    block = names("if flag:\n    x = 1\ny = x")
    assert set(block.reads) == {"flag", "x"}
    assert "x" not in block.surely_bound
    assert "x" in block.defined


def test_a_name_bound_in_elif_chain_on_every_branch_is_surely_bound():
    code = "if a:\n    x = 1\nelif b:\n    x = 2\nelse:\n    x = 3\ny = x"
    assert reads(code) == {"a", "b"}


def test_a_name_bound_and_read_in_the_same_if_branch_is_not_an_outside_read():
    assert reads("if flag:\n    x = 1\n    y = x") == {"flag"}


@pytest.mark.parametrize(
    "code",
    [
        "for i in items:\n    acc = i\ny = acc",
        "while more():\n    acc = 1\ny = acc",
        "try:\n    pass\nexcept ValueError:\n    acc = 1\ny = acc",
    ],
)
def test_a_name_bound_only_in_a_loop_or_except_is_maybe_bound(code):
    assert "acc" in reads(code)


def test_a_name_bound_in_try_body_and_every_handler_is_bound_after():
    assert "v" not in reads("try:\n    v = 1\nexcept Exception:\n    v = 2\nw = v")


def test_a_with_target_is_surely_bound():
    assert reads("with open(path) as fh:\n    text = fh.read()\nn = len(text)") == {
        "open",
        "path",
        "len",
    }


def test_a_for_loop_target_is_bound_inside_the_loop_body():
    assert reads("for row in rows:\n    print(row)") == {"rows", "print"}


def test_a_name_bound_earlier_in_the_same_loop_body_is_not_an_outside_read():
    assert reads("while more():\n    chunk = next_chunk()\n    save(chunk)") == {
        "more",
        "next_chunk",
        "save",
    }


def test_an_except_as_name_is_bound_inside_its_handler():
    assert reads("try:\n    run()\nexcept ValueError as err:\n    print(err)") == {
        "run",
        "ValueError",
        "print",
    }


def test_a_walrus_at_top_level_surely_binds():
    assert reads("if (n := count()) > 0:\n    pass\nm = n") == {"count"}


# -- statement_names and errors ----------------------------------------------------------


def test_statement_names_gives_binds_and_outside_reads_of_one_statement():
    import ast

    statement = ast.parse("def helper(v):\n    return math.sqrt(v) * k").body[0]
    assert statement_names(statement) == ({"helper"}, {"math", "k"})


def test_a_cell_that_does_not_parse_raises_with_cell_and_line():
    with pytest.raises(CellSyntaxError) as caught:
        names("x = 1", "y = 2\nif x\n")
    assert (caught.value.cell, caught.value.line) == (1, 2)

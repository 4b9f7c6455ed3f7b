"""From a tagged notebook to a Plan: functions, data edges, order, metrics, versions."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
from conftest import EXAMPLE, make_notebook, markdown, plan_of, raw, warnings_about

from jupyter_mlops.convert.codegen import require_python
from jupyter_mlops.errors import (
    ConvertError,
    NotebookFormatError,
    PlanError,
    TagError,
    UnknownNameError,
)
from jupyter_mlops.notebook import parse_notebook, read_notebook
from jupyter_mlops.notebook.plan import PARAMETERS

# -- the example notebook ----------------------------------------------------------------


def test_example_functions_run_in_order(example_plan):
    assert [f.name for f in example_plan.functions] == [
        "load_data",
        "prepare",
        "train",
        "evaluate",
        "predict",
    ]
    assert [f.cell_indices for f in example_plan.functions] == [[4, 5], [8], [10], [12, 13], [15]]


def test_example_parameters_have_types_defaults_and_help(example_plan):
    assert [(p.name, str(p.type), p.default, p.help) for p in example_plan.parameters] == [
        ("n_customers", "int", 2000, "how many customers to simulate"),
        ("test_size", "float", 0.25, "share of customers held out for evaluation"),
        ("C", "float", 1.0, "inverse regularization strength of the logistic regression"),
        ("max_iter", "int", 300, "solver iterations"),
        ("seed", "int", 7, "random seed for data and split"),
        ("tenure_months", "int", 24, "months as a customer"),
        ("charges", "float", 70.0, "monthly charges"),
        ("calls", "int", 1, "support calls"),
        ("contract_type", "str", "monthly", "monthly, yearly or two-year"),
    ]


def test_example_setup_is_the_imports_cell_and_the_skip_cell_is_nowhere(example_plan):
    assert [cell.index for cell in example_plan.setup] == [2]
    used = {i for f in example_plan.functions for i in f.cell_indices}
    assert 6 not in used


def test_example_inputs_come_from_parameters_and_upstream_functions(example_plan):
    sources = {f.name: f.sources for f in example_plan.functions}
    assert sources["load_data"] == {"seed": PARAMETERS, "n_customers": PARAMETERS}
    assert sources["prepare"] == {
        "customers": "load_data",
        "seed": PARAMETERS,
        "test_size": PARAMETERS,
    }
    assert sources["train"] == {
        "C": PARAMETERS,
        "max_iter": PARAMETERS,
        "X_train": "prepare",
        "y_train": "prepare",
        "scaler": "prepare",
        "feature_names": "prepare",
    }
    assert sources["evaluate"] == {
        "model": "train",
        "X_test": "prepare",
        "y_test": "prepare",
        "scaler": "prepare",
    }


def test_example_outputs_are_what_downstream_reads_or_reports(example_plan):
    outputs = {f.name: set(f.outputs) for f in example_plan.functions}
    assert outputs == {
        "load_data": {"customers"},
        "prepare": {"feature_names", "X_train", "X_test", "y_train", "y_test", "scaler"},
        "train": {"model"},
        "evaluate": {"accuracy", "f1", "roc_auc"},
        "predict": {"churn_probability", "will_churn"},
    }


def test_example_metrics_come_from_the_metrics_cell(example_plan):
    assert [(m.name, m.function, m.cell) for m in example_plan.metrics] == [
        ("accuracy", "evaluate", 13),
        ("f1", "evaluate", 13),
        ("roc_auc", "evaluate", 13),
    ]


def test_example_edges_carry_the_names_passed(example_plan):
    edges = {(e.source, e.target): set(e.names) for e in example_plan.edges}
    assert edges == {
        ("load_data", "prepare"): {"customers"},
        ("prepare", "train"): {"X_train", "y_train", "scaler", "feature_names"},
        ("prepare", "evaluate"): {"X_test", "y_test", "scaler"},
        ("train", "evaluate"): {"model"},
        ("prepare", "predict"): {"scaler", "feature_names"},
        ("train", "predict"): {"model"},
    }
    assert example_plan.upstream("evaluate") == ["prepare", "train"]


def test_example_function_docs_come_from_the_markdown_above(example_plan):
    assert [f.doc for f in example_plan.functions] == [
        "Load the customers",
        "Prepare features",
        "Train",
        "Evaluate",
        "Score one customer",
    ]


def test_example_has_no_warnings(example_plan):
    assert example_plan.warnings == []


def test_plan_function_looks_up_by_name_and_names_the_known_ones(example_plan):
    assert example_plan.function("train").name == "train"
    with pytest.raises(UnknownNameError, match="load_data, prepare, train, evaluate"):
        example_plan.function("deploy")


def test_plan_to_dict_is_json(example_plan):
    data = json.loads(json.dumps(example_plan.to_dict()))
    assert data["notebook"] == str(EXAMPLE)
    assert [f["name"] for f in data["functions"]] == [
        "load_data",
        "prepare",
        "train",
        "evaluate",
        "predict",
    ]


# -- continuation ------------------------------------------------------------------------


def test_untagged_cell_continues_the_function_above():
    plan = plan_of(("a = 1", "mlops:fn:first"), "b = a + 1")
    assert plan.function("first").cell_indices == [0, 1]


def test_markdown_and_raw_cells_do_not_break_a_function():
    plan = plan_of(("a = 1", "mlops:fn:first"), markdown("notes"), raw("raw"), "b = a")
    assert plan.function("first").cell_indices == [0, 3]


def test_a_tagged_cell_ends_the_function_above():
    plan = plan_of(("a = 1", "mlops:fn:first"), ("b = a", "mlops:fn:second"), "c = b")
    assert [f.cell_indices for f in plan.functions] == [[0], [1, 2]]


def test_a_function_may_come_back_later_in_the_notebook():
    plan = plan_of(("a = 1", "mlops:fn:one"), ("b = 2", "mlops:fn:two"), ("c = a", "mlops:fn:one"))
    assert plan.function("one").cell_indices == [0, 2]


def test_mlops_skip_leaves_out_the_cell_and_the_untagged_cells_after_it():
    plan = plan_of(("a = 1", "mlops:fn:first"), ("a.explore()", "mlops:skip"), "more_exploring = 1")
    assert plan.function("first").cell_indices == [0]


def test_untagged_cells_after_setup_are_setup():
    plan = plan_of(("import os", "mlops:setup"), "import sys", ("x = sys.argv", "mlops:fn:a"))
    assert [cell.index for cell in plan.setup] == [0, 1]


def test_empty_code_cells_are_ignored():
    plan = plan_of(("a = 1", "mlops:fn:first"), "", "   \n")
    assert plan.function("first").cell_indices == [0]


def test_leading_untagged_cells_are_left_out_with_a_warning_naming_them():
    plan = plan_of("import os", "x = 1", ("y = 2", "mlops:fn:a"))
    assert plan.function("a").cell_indices == [2]
    (message,) = warnings_about(plan, 0)
    assert "cells 0, 1" in message
    assert "mlops:setup" in message


def test_a_notebook_without_function_tags_is_one_function_named_after_it():
    # Given a papermill notebook: a parameters cell and untagged code
    plan = plan_of(
        ("alpha = 0.5", "parameters"),
        markdown("# Work"),
        "import math",
        "y = math.sqrt(alpha)",
        name="daily report.ipynb",
    )
    # Then the whole notebook is one function, named after the file
    (function,) = plan.functions
    assert (function.name, function.cell_indices) == ("daily_report", [2, 3])
    assert function.sources == {"alpha": PARAMETERS}
    assert function.outputs == ["y"]
    assert any("whole notebook" in w.message for w in plan.warnings)


def test_a_notebook_with_no_code_has_no_functions():
    plan = plan_of(markdown("# Just words"))
    assert plan.functions == []


def test_untagged_after_and_option_tags_are_reported():
    plan = plan_of(("x = 1", ["mlops:after:a", "mlops:cpu:1"]), ("y = 1", "mlops:fn:a"))
    assert any("apply only to function cells" in m for m in warnings_about(plan, 0))


# -- data edges --------------------------------------------------------------------------


def test_an_input_comes_from_the_nearest_earlier_definition():
    plan = plan_of(("x = 1", "mlops:fn:a"), ("x = 2", "mlops:fn:b"), ("y = x", "mlops:fn:c"))
    assert plan.function("c").sources == {"x": "b"}
    assert [(e.source, e.target, e.names) for e in plan.edges] == [("b", "c", ("x",))]


def test_two_functions_defining_a_name_is_reported_as_ambiguous():
    plan = plan_of(("x = 1", "mlops:fn:a"), ("x = 2", "mlops:fn:b"), ("y = x", "mlops:fn:c"))
    (message,) = warnings_about(plan, 2)
    assert "'x' is defined by b" in message
    assert "also by a" in message


def test_a_function_that_updates_an_upstream_value_is_not_ambiguous():
    plan = plan_of(("x = 1", "mlops:fn:a"), ("x = x + 1", "mlops:fn:b"), ("y = x", "mlops:fn:c"))
    assert plan.function("c").sources == {"x": "b"}
    assert plan.warnings == []


def test_changing_a_value_in_place_makes_the_changer_its_producer():
    plan = plan_of(
        ("model = make()", "mlops:fn:build"),
        ("model.fit(data)", "mlops:fn:fit"),
        ("score = model.score(data)", "mlops:fn:judge"),
        ("def make():\n    return 1\ndata = [1]", "mlops:setup"),
    )
    assert plan.function("fit").sources == {"model": "build"}
    assert plan.function("judge").sources == {"model": "fit"}


def test_reading_a_name_only_a_later_function_defines_is_reported():
    plan = plan_of(("y = x", "mlops:fn:c"), ("x = 2", "mlops:fn:b"))
    assert plan.function("c").inputs == []
    (message,) = warnings_about(plan, 0)
    assert "c reads 'x'" in message
    assert "only b, later in the notebook" in message


def test_reading_before_the_function_itself_assigns_is_reported():
    plan = plan_of(("y = x\nx = 1", "mlops:fn:c"))
    assert warnings_about(plan, 0) == ["'x' is read (line 1) before this function assigns it"]


def test_an_undefined_name_is_reported_with_its_cell_and_line():
    plan = plan_of(("a = 1", "mlops:fn:a"), ("b = 1\nc = missing_value", "mlops:fn:b"))
    assert warnings_about(plan, 1) == [
        "'missing_value' (line 2) is not defined by any parameter, setup cell or function"
    ]


def test_builtins_and_setup_names_are_not_undefined():
    plan = plan_of(("import math", "mlops:setup"), ("y = len(str(math.pi))", "mlops:fn:a"))
    assert plan.warnings == []
    assert plan.function("a").inputs == []


def test_a_star_import_in_setup_silences_undefined_names_but_is_reported():
    plan = plan_of(("from math import *", "mlops:setup"), ("y = sqrt(2)", "mlops:fn:a"))
    (message,) = [w.message for w in plan.warnings]
    assert "'from math import *'" in message


def test_setup_reading_a_parameter_is_reported():
    plan = plan_of(("alpha = 1", "parameters"), ("beta = alpha * 2", "mlops:setup"))
    assert any("setup code reads parameter 'alpha'" in m for m in warnings_about(plan, 1))


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("exec('q = 1')", "exec() (line 1)"),
        ("def f():\n    global g\n    g = 1", "'global g' (line 2)"),
        ("x = await fetch()", "top-level 'await' (line 1)"),
        ("from os.path import *", "'from os.path import *' (line 1)"),
    ],
)
def test_what_analysis_cannot_see_is_reported_naming_the_cell(code, fragment):
    plan = plan_of(("a = 1", "mlops:fn:first"), (code, "mlops:fn:second"))
    assert any(fragment in m for m in warnings_about(plan, 1))


def test_an_untranslatable_magic_is_reported_naming_the_cell():
    plan = plan_of(("x = 1", "mlops:fn:a"), ("%sql SELECT 1\n%matplotlib inline", "mlops:fn:b"))
    (message,) = warnings_about(plan, 1)
    assert "'%sql SELECT 1' (line 1)" in message


def test_imports_and_defs_used_by_a_later_function_are_copied_not_passed():
    # Given a function that defines a helper and a later one that calls it
    plan = plan_of(
        ("import math\ndef hyp(a, b):\n    return math.sqrt(a * a + b * b)", "mlops:fn:a"),
        ("d = hyp(3, 4)", "mlops:fn:b"),
    )
    b = plan.function("b")
    # Then the helper and the import it needs are code in b, not data from a
    assert b.inputs == []
    assert plan.edges == []
    assert {code.split()[0]: source for source, code in b.definitions} == {
        "def": "a",
        "import": "a",
    }
    assert {code.split("(")[0] for _, code in b.definitions} == {"def hyp", "import math"}


def test_a_copied_def_still_takes_data_it_reads_from_its_function():
    plan = plan_of(
        ("k = 3\ndef scale(v):\n    return v * k", "mlops:fn:a"),
        ("y = scale(2)", "mlops:fn:b"),
    )
    assert plan.function("b").sources == {"k": "a"}
    assert plan.function("a").outputs == ["k"]


def test_copied_definitions_come_before_the_code_that_needs_them():
    plan = plan_of(
        ("from collections import OrderedDict\nclass Table(OrderedDict):\n    pass", "mlops:fn:a"),
        ("t = Table()", "mlops:fn:b"),
    )
    codes = [code for _, code in plan.function("b").definitions]
    assert codes == ["from collections import OrderedDict", "class Table(OrderedDict):\n    pass"]


def test_reusing_a_loop_variable_name_makes_no_data_edge():
    plan = plan_of(
        ("rows = [1, 2]\nfor row in rows:\n    print(row)", "mlops:fn:a"),
        ("for row in range(3):\n    print(row)", "mlops:fn:b"),
    )
    assert plan.function("b").inputs == []
    assert plan.edges == []


def test_an_except_as_name_is_not_reported_undefined():
    plan = plan_of(
        ("try:\n    x = 1 / 0\nexcept ZeroDivisionError as err:\n    print(err)", "step:a")
    )
    assert plan.warnings == []


# -- order and errors --------------------------------------------------------------------


def test_after_adds_an_ordering_edge_without_data():
    plan = plan_of(("y = 2", "mlops:fn:b"), ("x = 1", ["mlops:fn:a", "mlops:after:b"]))
    assert plan.function("a").after == ["b"]
    assert [(e.source, e.target, e.names) for e in plan.edges] == [("b", "a", ())]


def test_after_can_make_a_later_function_run_first():
    plan = plan_of(("x = 1", ["mlops:fn:a", "mlops:after:b"]), ("y = 2", "mlops:fn:b"))
    assert [f.name for f in plan.functions] == ["b", "a"]


def test_independent_functions_keep_notebook_order():
    plan = plan_of(("x = 1", "mlops:fn:z"), ("y = 2", "mlops:fn:a"), ("w = 3", "mlops:fn:m"))
    assert [f.name for f in plan.functions] == ["z", "a", "m"]


def test_a_cycle_is_a_plan_error_naming_functions_and_cells():
    with pytest.raises(PlanError, match="cycle") as caught:
        plan_of(("x = 1", ["mlops:fn:a", "mlops:after:b"]), ("y = x", "mlops:fn:b"))
    assert "a (cell 0) -> b (cell 1) -> a (cell 0)" in str(caught.value)
    assert caught.value.cell == 0
    assert caught.value.hint


def test_a_data_cycle_through_a_function_that_comes_back_is_a_plan_error():
    with pytest.raises(PlanError, match=r"a \(cell 0\).*b \(cell 1\)"):
        plan_of(("x = 1", "mlops:fn:a"), ("y = x", "mlops:fn:b"), ("z = y", "mlops:fn:a"))


def test_after_an_unknown_function_is_a_plan_error_naming_the_cell():
    with pytest.raises(PlanError, match="after:nope names no function") as caught:
        plan_of(("x = 1", "mlops:fn:a"), ("y = 1", ["mlops:fn:b", "mlops:after:nope"]))
    assert caught.value.cell == 1
    assert "functions: a, b" in str(caught.value)


def test_after_itself_is_a_plan_error():
    with pytest.raises(PlanError, match="after itself"):
        plan_of(("x = 1", ["mlops:fn:a", "mlops:after:a"]))


def test_functions_whose_identifiers_collide_are_a_plan_error():
    with pytest.raises(PlanError, match="'load-data' and 'load_data'") as caught:
        plan_of(("x = 1", "mlops:fn:load-data"), ("y = 1", "mlops:fn:load_data"))
    assert caught.value.cell == 1


@pytest.mark.parametrize(
    ("name", "identifier"),
    [
        ("load-data", "load_data"),
        ("class", "class_"),
        ("2nd-step", "fn_2nd_step"),
        ("préparer", "préparer"),
        ("model", "model_step"),  # the code uses the name 'model'
    ],
)
def test_function_identifiers_are_python_names_clear_of_the_code(name, identifier):
    plan = plan_of(("model = 1", f"mlops:fn:{name}"), ("y = model", "mlops:fn:other"))
    assert plan.function(name).identifier == identifier


def test_a_metrics_cell_outside_a_function_is_a_tag_error():
    with pytest.raises(TagError, match="belongs to a function") as caught:
        plan_of(("import os", "mlops:setup"), ("score = 1", "mlops:metrics"))
    assert caught.value.cell == 1


def test_a_metrics_cell_before_the_first_function_tag_is_a_tag_error():
    with pytest.raises(TagError, match="belongs to a function") as caught:
        plan_of("x = 1", ("score = 1.0", "mlops:metrics"), ("y = 2", "mlops:fn:a"))
    assert caught.value.cell == 1


def test_a_metrics_cell_in_a_notebook_without_function_tags_gives_its_metrics():
    plan = plan_of("x = 3", ("score = x / 2\nlabel = 'ok'", "mlops:metrics"), "done = True")
    (function,) = plan.functions
    assert function.cell_indices == [0, 1, 2]
    assert function.metrics == ["score", "label"]
    assert [(m.name, m.cell) for m in plan.metrics] == [("score", 1), ("label", 1)]


# -- metrics -----------------------------------------------------------------------------


def test_a_metrics_cell_after_a_function_reports_its_top_level_numbers():
    plan = plan_of(
        ("x = 2", "mlops:fn:a"),
        ("score = x + 1\nloss = 0.5\n_tmp = 1\nfor i in range(2):\n    inner = i", "mlops:metrics"),
    )
    a = plan.function("a")
    assert a.cell_indices == [0, 1]
    assert a.metrics == ["score", "loss", "_tmp"]
    assert [(m.name, m.function, m.cell) for m in plan.metrics] == [
        ("score", "a", 1),
        ("loss", "a", 1),
        ("_tmp", "a", 1),
    ]
    assert set(a.metrics) <= set(a.outputs)


def test_a_metrics_cell_may_name_its_function():
    plan = plan_of(("x = 2", "mlops:fn:a"), ("s = x", ["mlops:fn:a", "mlops:metrics"]))
    assert plan.function("a").metrics == ["s"]


def test_a_bare_name_in_a_metrics_cell_is_a_metric():
    plan = plan_of(("acc = 0.9", "mlops:fn:a"), ("acc", "mlops:metrics"))
    assert plan.function("a").metrics == ["acc"]


def test_kale_pipeline_metrics_name_values_of_functions_and_parameters():
    # Given Kale metrics that print a step's value and a pipeline parameter
    plan = plan_of(
        ("d1 = 5", "pipeline-parameters"),
        ("total = d1 * 2", "step:compute"),
        ("print(d1)\nprint(total)", "pipeline-metrics"),
    )
    # Then both are metrics: one produced by the step, one a parameter
    assert [(m.name, m.function, m.cell) for m in plan.metrics] == [
        ("d1", PARAMETERS, 2),
        ("total", "compute", 2),
    ]
    assert plan.function("compute").metrics == ["total"]
    assert "total" in plan.function("compute").outputs


def test_kale_metrics_may_be_bare_names():
    plan = plan_of(("total = 1", "step:compute"), ("total", "pipeline-metrics"))
    assert [m.name for m in plan.metrics] == ["total"]


def test_a_metric_named_twice_is_one_metric():
    plan = plan_of(("total = 1", "step:compute"), ("print(total)\ntotal", "pipeline-metrics"))
    assert [m.name for m in plan.metrics] == ["total"]


def test_kale_metric_no_function_defines_is_reported():
    plan = plan_of(("x = 1", "step:a"), ("print(unknown_metric)", "pipeline-metrics"))
    assert plan.metrics == []
    assert warnings_about(plan, 1) == ["metric 'unknown_metric' is not defined by any function"]


def test_kale_metrics_lines_that_are_not_names_are_reported():
    plan = plan_of(("x = 1", "step:a"), ("print(x + 1)", "pipeline-metrics"))
    assert any("not a variable name" in m for m in warnings_about(plan, 1))


# -- outputs -----------------------------------------------------------------------------


def test_outputs_are_only_the_names_downstream_reads():
    plan = plan_of(("x = 1\nunused = 2", "mlops:fn:a"), ("z = x", "mlops:fn:b"))
    assert plan.function("a").outputs == ["x"]


def test_a_sink_outputs_its_public_top_level_assignments():
    plan = plan_of(("import os\nx = 1\n_private = 2\ndef f():\n    pass", "mlops:fn:a"))
    assert plan.function("a").outputs == ["x"]


def test_a_deleted_name_is_not_an_output():
    plan = plan_of(("tmp = 1\nkeep = tmp\ndel tmp", "mlops:fn:a"))
    assert plan.function("a").outputs == ["keep"]


# -- versions ----------------------------------------------------------------------------

BASE = [
    ("alpha: float = 0.5\nbeta = 3", "parameters"),
    (
        "import math\ndef helper(v):\n    return v + 1\ndef other():\n    return 0",
        "mlops:setup",
    ),
    ("x = helper(alpha)", "mlops:fn:b"),
]


def version(*changes: tuple[int, tuple[str, str]], prefix=()) -> str:
    cells = list(BASE)
    for index, cell in changes:
        cells[index] = cell
    return plan_of(*prefix, *cells).function("b").version


def test_a_version_is_a_sha256_hex_digest():
    assert len(version()) == 64
    int(version(), 16)


def test_same_code_gives_the_same_version():
    assert version() == version()


def test_same_code_gives_the_same_version_in_another_process():
    script = (
        "import sys; sys.path.insert(0, 'tests'); from conftest import plan_of; "
        "from test_parser import BASE; print(plan_of(*BASE).function('b').version)"
    )
    results = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert results == {version()}


def test_a_comment_or_formatting_change_keeps_the_version():
    changed = (2, ("# a comment\nx = helper( alpha )  # why", "mlops:fn:b"))
    assert version(changed) == version()


def test_moving_the_cells_down_keeps_the_version():
    assert version(prefix=[markdown("# Title"), ("print('explore')", "mlops:skip")]) == version()


def test_a_code_change_makes_a_new_version():
    assert version((2, ("x = helper(alpha) * 2", "mlops:fn:b"))) != version()


def test_a_change_to_setup_code_the_function_uses_makes_a_new_version():
    setup = "import math\ndef helper(v):\n    return v + 2\ndef other():\n    return 0"
    assert version((1, (setup, "mlops:setup"))) != version()


def test_a_change_to_an_unrelated_setup_helper_keeps_the_version():
    setup = "import math\ndef helper(v):\n    return v + 1\ndef other():\n    return 42"
    assert version((1, (setup, "mlops:setup"))) == version()


def test_a_change_of_a_used_parameter_default_makes_a_new_version():
    assert version((0, ("alpha: float = 0.7\nbeta = 3", "parameters"))) != version()


def test_a_change_of_a_used_parameter_type_makes_a_new_version():
    assert version((0, ("alpha: float | None = 0.5\nbeta = 3", "parameters"))) != version()


def test_a_change_of_an_unused_parameter_keeps_the_version():
    assert version((0, ("alpha: float = 0.5\nbeta = 4", "parameters"))) == version()


def test_the_version_ignores_other_functions_that_do_not_feed_it():
    plan_a = plan_of(*BASE, ("z = 1", "mlops:fn:c"))
    plan_b = plan_of(*BASE, ("z = 2", "mlops:fn:c"))
    assert plan_a.function("b").version == plan_b.function("b").version
    assert plan_a.function("c").version != plan_b.function("c").version


# -- reading -----------------------------------------------------------------------------


def test_a_notebook_can_be_parsed_from_an_in_memory_dict_without_changing_it():
    content = make_notebook(("x = 1", "mlops:fn:a"))
    before = copy.deepcopy(content)
    plan = parse_notebook(content, name="memory.ipynb")
    assert plan.notebook == "memory.ipynb"
    assert plan.function("a").cell_indices == [0]
    assert content == before


def test_an_in_memory_notebook_has_a_default_name():
    assert parse_notebook(make_notebook("x = 1")).notebook == "notebook.ipynb"


def test_a_file_and_its_content_give_the_same_plan(write_notebook):
    content = make_notebook(("x = 1", "mlops:fn:a"), ("y = x", "mlops:fn:b"))
    path = write_notebook(content, "same.ipynb")
    from_file = parse_notebook(path).to_dict()
    from_dict = parse_notebook(content, name=str(path)).to_dict()
    assert from_file == from_dict


def test_cell_sources_given_as_lists_of_lines_are_joined():
    content = make_notebook(("", "mlops:fn:a"))
    content["cells"][0]["source"] = ["x = 1\n", "y = x\n"]
    assert parse_notebook(content).function("a").cells[0].source == "x = 1\ny = x\n"


def test_an_nbformat_3_notebook_is_upgraded():
    old = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [
            {
                "metadata": {},
                "cells": [
                    {
                        "cell_type": "code",
                        "input": "x = 1",
                        "language": "python",
                        "metadata": {},
                        "outputs": [],
                        "collapsed": False,
                    }
                ],
            }
        ],
    }
    plan = parse_notebook(old, name="old.ipynb")
    assert [f.cell_indices for f in plan.functions] == [[0]]


def test_a_notebook_without_kernel_information_is_taken_as_python():
    content = make_notebook("x = 1")
    content["metadata"] = {}
    assert read_notebook(content).name == "notebook.ipynb"


def expect_format_error(source, name, fragment):
    with pytest.raises(NotebookFormatError, match=fragment) as caught:
        read_notebook(source, name=name)
    assert caught.value.notebook == name
    assert str(caught.value).startswith(name)
    return caught.value


def test_malformed_json_is_a_format_error_with_line_and_column(write_notebook):
    path = write_notebook('{"cells": [', "broken.ipynb")
    error = expect_format_error(path, "broken.ipynb", "not valid JSON")
    assert "line 1 column 12" in str(error)


def test_a_missing_file_is_a_format_error():
    expect_format_error("/nonexistent/nothing.ipynb", "nothing.ipynb", "no such notebook")


def test_a_file_that_is_not_utf8_is_a_format_error(write_notebook):
    path = write_notebook("{}", "latin.ipynb")
    path.write_bytes(b'{"x": "\xff"}')
    expect_format_error(path, "latin.ipynb", "not UTF-8")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("[1, 2]", "must be an object"), ('{"cells": []}', "'nbformat' is missing")],
)
def test_json_that_is_not_a_notebook_is_a_format_error(text, fragment, write_notebook):
    expect_format_error(write_notebook(text, "odd.ipynb"), "odd.ipynb", fragment)


def test_a_cell_without_source_is_a_format_error_naming_the_cell_and_the_field():
    content = make_notebook("x = 1", "y = 2")
    del content["cells"][1]["source"]
    error = expect_format_error(content, "nosource.ipynb", "'source'")
    assert error.cell == 1


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda nb: nb["cells"][0].update(cell_type="weird"), "cell_type 'weird'"),
        (lambda nb: nb["cells"][0].update(source=42), "'source'"),
        (lambda nb: nb.update(cells={}), "'cells'"),
        (lambda nb: nb["cells"][0].update(execution_count="one"), "not a valid nbformat 4"),
    ],
)
def test_schema_invalid_notebooks_are_format_errors(change, fragment):
    content = make_notebook("x = 1")
    change(content)
    expect_format_error(content, "invalid.ipynb", fragment)


def test_a_notebook_4_5_without_cell_ids_is_read_as_nbformat_does():
    content = make_notebook(("x = 1", "mlops:fn:a"))
    del content["cells"][0]["id"]
    assert parse_notebook(content).function("a").cell_indices == [0]


def test_nbformat_5_is_a_format_error():
    content = make_notebook("x = 1")
    content["nbformat"] = 5
    expect_format_error(content, "future.ipynb", "nbformat 5")


@pytest.mark.parametrize(("language", "kernel"), [("R", "ir"), ("julia", "julia-1.10")])
def test_a_non_python_kernel_is_a_format_error_naming_it(language, kernel):
    content = make_notebook("x <- 1", language=language, kernel=kernel)
    error = expect_format_error(content, "stats.ipynb", "only Python notebooks")
    assert language in str(error)
    assert repr(kernel) in str(error)


def test_format_errors_carry_the_notebook_name_through_parse(write_notebook):
    path = write_notebook("not json", "plain.ipynb")
    with pytest.raises(NotebookFormatError) as caught:
        parse_notebook(path)
    assert caught.value.notebook == str(path)


# -- cells that do not parse -------------------------------------------------------------


def test_a_cell_that_does_not_parse_is_a_warning_and_is_kept_for_kernels():
    plan = plan_of(("x = 1", "mlops:fn:a"), ("if x\n    y = 2", "mlops:fn:b"))
    (message,) = warnings_about(plan, 1)
    assert "does not parse" in message
    (cell,) = plan.function("b").broken_cells
    assert cell.index == 1
    assert "line 1" in (cell.error or "")


def test_converting_a_cell_that_does_not_parse_is_a_convert_error_naming_the_cell():
    plan = plan_of(("x = 1", "mlops:fn:a"), ("if x\n    y = 2", "mlops:fn:b"), name="w.ipynb")
    with pytest.raises(ConvertError, match="function 'b'") as caught:
        require_python(plan)
    assert (caught.value.notebook, caught.value.cell) == ("w.ipynb", 1)


def test_a_setup_cell_that_does_not_parse_is_a_convert_error_naming_the_cell():
    plan = plan_of(("import (", "mlops:setup"), ("x = 1", "mlops:fn:a"))
    with pytest.raises(ConvertError, match="setup") as caught:
        require_python(plan)
    assert caught.value.cell == 0


def test_converting_a_notebook_without_code_is_a_convert_error():
    with pytest.raises(ConvertError, match="no code"):
        require_python(plan_of(markdown("# Nothing")))

"""Cell tags: our ``mlops:`` grammar, its options and errors, and the peers' grammars."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import make_notebook, markdown, plan_of, warnings_about

from jupyter_mlops.convert.python_module import PythonModuleConverter
from jupyter_mlops.errors import PlanError, TagError
from jupyter_mlops.notebook import parse_notebook
from jupyter_mlops.notebook import tags as tag_grammar
from jupyter_mlops.notebook.tags import read_tags

# -- our grammar -------------------------------------------------------------------------


def test_fn_tag_names_the_function():
    tags = read_tags(["mlops:fn:train"], cell=0)
    assert tags.roles == [tag_grammar.FUNCTION]
    assert tags.function == "train"


@pytest.mark.parametrize("role", ["setup", "skip", "metrics"])
def test_role_tags_give_the_cell_that_role(role):
    assert read_tags([f"mlops:{role}"], cell=0).roles == [role]


def test_after_tags_collect_ordering_edges():
    tags = read_tags(["mlops:fn:report", "mlops:after:train", "mlops:after:score"], cell=0)
    assert tags.after == ["train", "score"]


def test_tags_outside_our_prefix_and_the_peer_grammars_are_ignored():
    tags = read_tags(["todo", "hide-input", "my:own:tag"], cell=0)
    assert tags.roles == []
    assert tags.function is None
    assert tags.options == {}


def test_surrounding_whitespace_in_a_tag_is_ignored():
    assert read_tags(["  mlops:fn:train "], cell=0).function == "train"


@pytest.mark.parametrize(
    ("tag", "key", "value"),
    [
        ("mlops:cpu:2", "cpu", "2"),
        ("mlops:cpu:0.5", "cpu", "0.5"),
        ("mlops:cpu:500m", "cpu", "500m"),
        ("mlops:memory:512Mi", "memory", "512Mi"),
        ("mlops:memory:4Gi", "memory", "4Gi"),
        ("mlops:memory:2G", "memory", "2G"),
        ("mlops:gpu:1", "gpu", 1),
        ("mlops:retries:3", "retries", 3),
        ("mlops:timeout:600", "timeout", 600),
        ("mlops:cache:off", "cache", False),
        ("mlops:cache:on", "cache", True),
        ("mlops:image:python:3.11-slim", "image", "python:3.11-slim"),
        ("mlops:image:ghcr.io/org/img@sha256:abc", "image", "ghcr.io/org/img@sha256:abc"),
    ],
)
def test_option_tags_are_parsed_into_typed_values(tag, key, value):
    tags = read_tags(["mlops:fn:train", tag], cell=0)
    assert tags.options == {key: value}


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("mlops:cpu:two", "CPU"),
        ("mlops:cpu:-1", "CPU"),
        ("mlops:cpu:", "CPU"),
        ("mlops:memory:lots", "memory"),
        ("mlops:memory:4GB", "memory"),
        ("mlops:gpu:1.5", "whole number"),
        ("mlops:retries:many", "whole number"),
        ("mlops:timeout:1m", "whole number"),
        ("mlops:cache:maybe", "'on' or 'off'"),
        ("mlops:image:", "image"),
    ],
)
def test_bad_option_values_are_tag_errors_naming_the_cell_and_the_tag(tag, expected):
    with pytest.raises(TagError, match=expected) as caught:
        read_tags(["mlops:fn:train", tag], cell=7, notebook="work.ipynb")
    assert caught.value.cell == 7
    assert caught.value.notebook == "work.ipynb"
    assert repr(tag) in str(caught.value)


@pytest.mark.parametrize("tag", ["mlops:bogus", "mlops:setup:x", "mlops:after:", "mlops:zz:a"])
def test_unknown_mlops_tag_is_a_tag_error_listing_the_known_tags(tag):
    with pytest.raises(TagError, match="unknown tag") as caught:
        read_tags([tag], cell=4)
    assert caught.value.cell == 4
    assert "fn:NAME" in (caught.value.hint or "")


def test_unknown_mlops_tag_in_a_notebook_names_the_notebook_and_the_cell():
    # Given a notebook whose third cell has a misspelt tag
    with pytest.raises(TagError) as caught:
        plan_of(markdown("# Title"), ("x = 1", "mlops:fn:a"), ("y = x", "mlops:bogus"))
    # Then the error points at it
    assert caught.value.cell == 2
    assert caught.value.notebook == "notebook.ipynb"
    assert str(caught.value).startswith("notebook.ipynb, cell 2: unknown tag 'mlops:bogus'")


@pytest.mark.parametrize(
    ("tag", "meant"),
    [
        ("mlop:fn:x", "mlops:fn:x"),
        ("mlops-fn:x", "mlops:fn:x"),
        ("mlops:function:x", "mlops:fn:x"),
        ("MLOps:Fn:x", "mlops:fn:x"),
        ("mlops_setup", "mlops:setup"),
        ("mlops:metric", "mlops:metrics"),
        ("mlops:timout:30", "mlops:timeout:30"),
    ],
)
def test_a_near_miss_tag_is_a_warning_naming_the_cell_with_did_you_mean(tag, meant):
    # Given a notebook whose second cell has a near-miss of one of our tags
    plan = plan_of(("x = 1", "mlops:fn:a"), ("y = x", tag))
    # Then parsing goes on and the warning on that cell says what was meant
    (message,) = [m for m in warnings_about(plan, 1) if "did you mean" in m]
    assert repr(tag) in message
    assert f"did you mean {meant!r}?" in message
    # and the tag is ignored: the cell continues function a
    assert plan.function("a").cell_indices == [0, 1]


@pytest.mark.parametrize("tag", ["todo", "hide-input", "my:own:tag", "mlflow:run", "mlrun:x"])
def test_tags_that_look_like_nothing_of_ours_give_no_warning(tag):
    plan = plan_of(("x = 1", ["mlops:fn:a", tag]))
    assert not [m for m in warnings_about(plan, 0) if "did you mean" in m]


def test_one_function_on_cells_that_are_not_consecutive_is_a_warning_naming_both_cells():
    # Given function a tagged on cells 0 and 2, with function b's cell between them
    plan = plan_of(
        ("x = 1", "mlops:fn:a"),
        ("y = 2", "mlops:fn:b"),
        "note = 'b goes on'",
        ("z = 3", "mlops:fn:a"),
    )
    # Then the plan keeps one function a and warns on cell 3, naming cell 0 and b
    assert plan.function("a").cell_indices == [0, 3]
    (message,) = warnings_about(plan, 3)
    assert "cell 0" in message
    assert "cell 3" in message
    assert "'b'" in message


@pytest.mark.parametrize(
    ("between", "named"),
    [(("import os", "mlops:setup"), "setup code"), (("n = 1", "parameters"), "parameters")],
)
def test_one_function_with_other_code_between_its_cells_is_a_warning(between, named):
    plan = plan_of(("x = 1", "mlops:fn:a"), between, ("y = x", "mlops:fn:a"))
    (message,) = warnings_about(plan, 2)
    assert f"on cell 0 and again on cell 2, with {named} between them" in message


def test_a_cycle_made_by_one_function_on_non_consecutive_cells_says_so():
    # Given a reads what b makes, and b reads what a's first cell makes
    with pytest.raises(PlanError, match="cycle") as caught:
        plan_of(("x = 1", "mlops:fn:a"), ("y = x", "mlops:fn:b"), ("z = y", "mlops:fn:a"))
    assert "tagged on cells 0 and 2" in (caught.value.hint or "")


def test_one_function_on_consecutive_cells_gives_no_warning():
    plan = plan_of(
        ("x = 1", "mlops:fn:a"),
        ("y = x", "mlops:fn:a"),
        ("z = 3", ["mlops:skip"]),
        ("w = y", "mlops:fn:a"),
    )
    assert plan.function("a").cell_indices == [0, 1, 3]
    assert plan.warnings == []


@pytest.mark.parametrize("tag", ["mlops:fn:", "mlops:fn:two words", "step:a b"])
def test_function_name_must_be_non_empty_without_spaces(tag):
    with pytest.raises(TagError, match="function name"):
        read_tags([tag], cell=0)


def test_bad_option_in_a_notebook_names_the_cell():
    with pytest.raises(TagError) as caught:
        plan_of(("x = 1", ["mlops:fn:a", "mlops:memory:a-lot"]))
    assert caught.value.cell == 0
    assert "memory" in str(caught.value)


# -- two roles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [
        ["mlops:setup", "mlops:skip"],
        ["mlops:fn:a", "mlops:setup"],
        ["parameters", "mlops:fn:a"],
        ["mlops:skip", "mlops:metrics"],
        ["imports", "mlops:skip"],
    ],
)
def test_two_roles_in_one_cell_is_a_tag_error(tags):
    with pytest.raises(TagError, match="role") as caught:
        read_tags(tags, cell=5)
    assert caught.value.cell == 5


def test_a_cell_tagged_for_two_functions_is_a_tag_error():
    with pytest.raises(TagError, match="two functions"):
        read_tags(["mlops:fn:a", "step:b"], cell=0)


def test_the_same_function_in_two_grammars_is_one_function():
    assert read_tags(["mlops:fn:a", "step:a", "block:a"], cell=0).function == "a"


def test_a_metrics_cell_may_also_name_its_function():
    tags = read_tags(["mlops:metrics", "mlops:fn:evaluate"], cell=0)
    assert tags.function == "evaluate"
    assert tags.roles == [tag_grammar.FUNCTION, tag_grammar.METRICS]


def test_one_option_with_two_values_in_one_cell_is_a_tag_error():
    with pytest.raises(TagError, match="twice"):
        read_tags(["mlops:fn:a", "mlops:gpu:1", "limit:nvidia.com/gpu:2"], cell=0)


def test_one_option_with_two_values_in_one_function_is_a_tag_error():
    with pytest.raises(TagError, match="option 'cpu'") as caught:
        plan_of(("x = 1", ["mlops:fn:a", "mlops:cpu:1"]), ("y = x", ["mlops:fn:a", "mlops:cpu:2"]))
    assert caught.value.cell == 1


def test_options_on_any_cell_of_a_function_apply_to_the_function():
    plan = plan_of(("x = 1", ["mlops:fn:a", "mlops:cpu:1"]), ("y = x", "mlops:gpu:1"))
    assert plan.function("a").options == {"cpu": "1", "gpu": 1}


@pytest.mark.parametrize(
    "cell",
    [
        ("import os", ["mlops:setup", "mlops:cpu:2"]),
        ("alpha = 1", ["parameters", "mlops:gpu:1"]),
        ("print(1)", ["mlops:skip", "mlops:after:a"]),
    ],
)
def test_option_tags_on_a_cell_that_is_not_a_function_are_reported(cell):
    # DESIGN: options are honoured or warned about by name, never dropped silently.
    try:
        plan = plan_of(cell, ("y = 1", "mlops:fn:a"))
    except TagError as err:  # refusing the tag is as good as warning about it
        reported = [str(err)] if err.cell == 0 else []
    else:
        reported = warnings_about(plan, 0)
    assert reported, "the tag that cannot apply must be named in a warning or an error"


# -- Kale --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kale", "role"),
    [
        ("imports", tag_grammar.SETUP),
        ("functions", tag_grammar.SETUP),
        ("pipeline-parameters", tag_grammar.PARAMETERS),
        ("pipeline-metrics", tag_grammar.METRICS_NAMES),
        ("skip", tag_grammar.SKIP),
    ],
)
def test_kale_reserved_tags_map_to_our_roles(kale, role):
    assert read_tags([kale], cell=0).roles == [role]


@pytest.mark.parametrize("kale", ["step:train", "block:train"])
def test_kale_step_and_block_tags_name_a_function(kale):
    assert read_tags([kale], cell=0).function == "train"


@pytest.mark.parametrize("kale", ["step:", "block:"])
def test_kale_empty_step_name_means_an_untagged_cell(kale):
    tags = read_tags([kale], cell=0)
    assert tags.roles == []
    assert tags.function is None


@pytest.mark.parametrize(
    ("kale", "options"),
    [
        ("limit:nvidia.com/gpu:1", {"gpu": 1}),
        ("limit:amd.com/gpu:2", {"gpu": 2}),
        ("limit:cpu:500m", {"cpu": "500m"}),
        ("limit:memory:4Gi", {"memory": "4Gi"}),
        ("image:python:3.11-slim", {"image": "python:3.11-slim"}),
        ("cache:disabled", {"cache": False}),
        ("cache:enabled", {"cache": True}),
    ],
)
def test_kale_step_settings_map_to_our_options(kale, options):
    assert read_tags(["step:train", kale], cell=0).options == options


def test_kale_prev_tags_are_ordering_edges():
    tags = read_tags(["prev:load", "step:train", "prev:clean"], cell=0)
    assert tags.function == "train"
    assert tags.after == ["load", "clean"]


def test_kale_limit_with_a_bad_amount_is_a_tag_error():
    with pytest.raises(TagError):
        read_tags(["step:a", "limit:cpu:lots"], cell=3)


@pytest.mark.parametrize(
    "kale", ["annotation:team:ml", "label:env:prod", "secret:s:k:ENV", "limit:ephemeral:1"]
)
def test_kale_tags_without_an_equivalent_become_a_warning_naming_the_cell(kale):
    plan = plan_of(("x = 1", ["step:a", kale]))
    assert any(kale in message for message in warnings_about(plan, 0))


def test_kale_skip_lets_the_following_cells_continue_the_step():
    plan = plan_of(("a = 1", "step:load"), ("print(a)", "skip"), "b = a + 1")
    assert plan.function("load").cell_indices == [0, 2]


def test_kale_2_notebook_gives_setup_parameters_steps_edges_options_and_metrics():
    # Given a notebook tagged for Kale 2.x
    plan = plan_of(
        ("import random", "imports"),
        ("CANDIES = 20", "pipeline-parameters"),
        "SEED = 3",  # continues the pipeline-parameters cell
        ("def handful(left):\n    return random.randint(0, left)", "functions"),
        ("sack = list(range(CANDIES))", ["step:sack", "image:python:3.11-slim"]),
        ("print(sack)", "skip"),
        "sack.sort()",  # continues step sack across the skip
        (
            "kid1 = handful(len(sack) + SEED)",
            ["step:kid1", "prev:sack", "limit:nvidia.com/gpu:1", "cache:disabled"],
        ),
        ("print(kid1)", "pipeline-metrics"),
    )
    # Then imports and functions are setup, and both parameter cells give parameters
    assert [cell.index for cell in plan.setup] == [0, 3]
    assert [(p.name, str(p.type), p.default) for p in plan.parameters] == [
        ("CANDIES", "int", 20),
        ("SEED", "int", 3),
    ]
    # And steps are functions with their options and ordering
    sack, kid1 = plan.functions
    assert (sack.name, sack.cell_indices, sack.options) == (
        "sack",
        [4, 6],
        {"image": "python:3.11-slim"},
    )
    assert (kid1.name, kid1.after, kid1.options) == ("kid1", ["sack"], {"gpu": 1, "cache": False})
    assert kid1.sources == {"sack": "sack", "SEED": "parameters"}
    # And the metrics cell names the value to report
    assert [(m.name, m.function) for m in plan.metrics] == [("kid1", "kid1")]
    assert kid1.metrics == ["kid1"]


def test_kale_0_notebook_with_block_tags_and_empty_block_continuation():
    plan = plan_of(
        ("import numpy as np", "imports"),
        ("a = np.ones(3)", "block:init"),
        ("m = a.mean()", ["block:mean", "prev:init"]),
        ("", "block:"),
        "m2 = m * 2",
        ("s = a.sum()", ["block:total", "prev:init"]),
    )
    assert [(f.name, f.cell_indices, f.after) for f in plan.functions] == [
        ("init", [1], []),
        ("mean", [2, 4], ["init"]),
        ("total", [5], ["init"]),
    ]
    assert plan.function("mean").outputs == ["m", "m2"]


@pytest.mark.parametrize(
    ("continuation", "named"),
    [
        (["step:train", "prev:train"], "its own step"),  # repeats prev: naming its own step
        (["step:train", "prev:clean"], "no step"),  # names a step that does not exist
        (["prev:train"], "its own step"),  # a prev: alone on an untagged continuation
    ],
)
def test_kale_continuation_cell_with_a_prev_kale_ignores_compiles_with_a_warning(
    continuation, named, tmp_path
):
    # Given a Kale notebook whose continuation cell of step train has a prev: that Kale
    # never reads (Kale takes a step's edges from its first cell only)
    notebook = make_notebook(
        ("import json", "imports"),
        ("rows = [1, 2, 3]", "step:load"),
        ("total = sum(rows)", ["step:train", "prev:load"]),
        ("score = total / len(rows)", continuation),
    )
    # When it is parsed and converted
    plan = parse_notebook(notebook, name="kale.ipynb")
    (path,) = PythonModuleConverter().convert(plan, tmp_path).files
    # Then the cell has a warning naming the tag and what it names, the edge load -> train
    # stays, and the generated module runs
    (message,) = warnings_about(plan, 3)
    assert f"prev:{continuation[-1].split(':')[1]}" in message
    assert named in message
    assert plan.function("train").after == ["load"]
    assert plan.function("train").cell_indices == [2, 3]
    result = subprocess.run(
        [sys.executable, "-c", "import kale; print(kale.run_pipeline()['score'])"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.0"


def test_kale_first_cell_of_a_step_naming_no_step_is_still_an_error():
    # Kale refuses this too: a step's own edges must name steps
    with pytest.raises(PlanError, match="after:clean names no function"):
        plan_of(("rows = [1]", "step:load"), ("n = len(rows)", ["step:train", "prev:clean"]))


# -- MLRun / nuclio ----------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["mlrun-ignore", "nuclio-ignore"])
def test_mlrun_ignore_tags_skip_the_cell_and_let_the_next_continue(tag):
    plan = plan_of(("a = 1", "mlops:fn:a"), ("print(a)", tag), "b = a")
    assert plan.function("a").cell_indices == [0, 2]


@pytest.mark.parametrize(
    "marker", ["# mlrun: ignore", "#mlrun:ignore", "# nuclio: ignore", "  #  mlrun:  ignore"]
)
def test_mlrun_ignore_marker_skips_the_cell(marker):
    plan = plan_of(("a = 1", "mlops:fn:a"), f"{marker}\nprint(a)", "b = a")
    assert plan.function("a").cell_indices == [0, 2]


def test_mlrun_start_and_end_markers_keep_only_the_code_between_them():
    # Given an MLRun notebook with scratch code around one marked section
    plan = plan_of(
        "import os\nscratch = 1",
        "# mlrun: start-code",
        "import math",
        "def handler(context):\n    return math.pi",
        "# mlrun: end-code",
        "print('after')",
        name="mlrun_fn.ipynb",
    )
    # Then the section is one function named after the notebook
    assert [(f.name, f.cell_indices) for f in plan.functions] == [("mlrun_fn", [2, 3])]


def test_mlrun_markers_inside_a_cell_cut_that_cell_line_for_line():
    plan = plan_of(
        "# mlrun: start-code",
        "kept = 1",
        "# mlrun: ignore\nprint(kept)",
        "also = kept + 1\n# mlrun: end-code\ndropped = 2",
    )
    function = plan.functions[0]
    assert function.cell_indices == [1, 3]
    assert function.cells[1].python.split("\n") == ["also = kept + 1", "", ""]
    assert function.outputs == ["kept", "also"]


def test_mlrun_named_sections_become_functions_of_that_name():
    plan = plan_of(
        "# mlrun: start-code trainer\nw = 1",
        "v = w * 2\n# mlrun: end-code trainer",
        "scratch = 0",
        "# mlrun: start-code scorer\ns = v + 1\n# mlrun: end-code scorer",
    )
    assert [(f.name, f.cell_indices) for f in plan.functions] == [
        ("trainer", [0, 1]),
        ("scorer", [3]),
    ]
    assert plan.function("scorer").sources == {"v": "trainer"}


def test_mlrun_end_code_alone_keeps_the_cells_from_the_top():
    plan = plan_of("x = 1", "y = x\n# nuclio: end-code", "z = 3")
    assert [c.index for c in plan.functions[0].cells] == [0, 1]


# -- papermill ---------------------------------------------------------------------------


def test_papermill_parameters_cell_does_not_absorb_the_cells_after_it():
    plan = plan_of(("alpha = 0.5", "parameters"), "beta = alpha * 2")
    assert [p.name for p in plan.parameters] == ["alpha"]
    assert plan.functions[0].cell_indices == [1]
    assert plan.functions[0].sources == {"alpha": "parameters"}


def test_kale_pipeline_parameters_cell_absorbs_the_cells_after_it():
    plan = plan_of(("alpha = 0.5", "pipeline-parameters"), "beta = 2", ("y = beta", "step:a"))
    assert [p.name for p in plan.parameters] == ["alpha", "beta"]


def test_papermill_injected_parameters_cell_is_skipped():
    plan = plan_of(
        ("alpha = 0.5", "parameters"),
        ('# Parameters\nalpha = "injected"\n', "injected-parameters"),
        ("y = alpha", "mlops:fn:a"),
    )
    assert [(p.name, p.default) for p in plan.parameters] == [("alpha", 0.5)]
    assert plan.function("a").cell_indices == [2]

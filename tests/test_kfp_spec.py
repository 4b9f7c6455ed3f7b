"""The kfp target's YAML, written without the kfp SDK, equals what ``kfp.compiler`` writes.

Each notebook is converted twice: once as users get it (our emitter, no kfp import) and once
with ``JUPYTER_MLOPS_KFP_COMPILER=sdk``, which imports the generated ``_pipeline.py`` and
compiles it with the installed kfp SDK. The two YAML files are compared as parsed YAML, with
nothing normalized: ``sdkVersion`` and the pinned ``kfp==`` in each component are the
installed kfp version on both sides, and only the header comments (not data) may differ.
Then ``kfp.local`` runs our YAML itself, and the example's metrics come out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cells_top_to_bottom
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_mlops.convert import yaml_text
from jupyter_mlops.convert.kfp_pipeline import COMPILER_VARIABLE
from jupyter_mlops.convert.runtime_io import mlops_load
from jupyter_mlops.errors import ConvertError
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kfp

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn.ipynb"
OVERRIDES = {"C": 0.5, "n_customers": 600}
METRICS = ("accuracy", "f1", "roc_auc")


def _code(source: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": tags or []},
        "outputs": [],
        "source": source,
    }


def _markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _notebook(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


TYPED = _notebook(
    [
        _code(
            "i: int = 3  # a count\n"
            "f: float = 0.5\n"
            "s: str = 'it\\'s \"quoted\" \\\\ é ✓ #x: [y]'\n"
            "b: bool = True\n"
            "l: list = [1, 2.5, 'x', True]\n"
            "li: list[int] = [1, 2]\n"
            "t: tuple = (1, 2)\n"
            "d: dict = {'k': [1, {'z': 2}], 'n': 'v'}\n"
            "ds: dict[str, float] = {'a': 1.0}\n"
            "lit: Literal['a', 'b'] = 'a'\n"
            "o: int | None = None\n"
            "o2: float | None = 1.5\n"
            "neg: int = -4\n"
            "big: float = 1e300\n"
            "empty: str = ''",
            ["parameters"],
        ),
        _code("r = [i, f, s, b, l, t, d, lit, o, o2, neg, big, empty]", ["mlops:fn:use_all"]),
        _code("q = (li, ds, r)", ["mlops:fn:use_rest"]),
    ]
)

OPTIONS = _notebook(
    [
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
        _code("y = x * 2", ["mlops:fn:light", "mlops:cpu:500m", "mlops:memory:512M"]),
        _code("z = 1", ["mlops:fn:side", "mlops:cpu:0.25", "mlops:memory:1000", "mlops:cache:on"]),
        _code("w = y + z", ["mlops:fn:after_all", "mlops:after:heavy", "mlops:memory:2Ti"]),
        _code("acc = w / 10", ["mlops:fn:score", "mlops:retries:1", "mlops:memory:3Ki"]),
        _code("acc", ["mlops:metrics"]),
    ]
)

NAMES = _notebook(
    [
        _code("Alpha_Rate: float = 0.1", ["parameters"]),
        # one line, as a function's doc is: docstring_parser reads it as reST fields
        _markdown(":param Alpha_Rate: the rate of alpha\n:param other: unused"),
        _code("Data = [Alpha_Rate]", ["mlops:fn:Load_Data"]),
        _markdown("Args: Data: the rows, in Google style on one line"),
        _code("other = Data + [1]", ["mlops:fn:load__data"]),
        _code("third = other * 2", ["mlops:fn:_load_data_"]),
        _code("donnees = third[:1]", ["mlops:fn:étape"]),
        _markdown("A step: with a colon, and a — dash"),
        _code("fin = len(donnees)", ["mlops:fn:Z9"]),
    ]
)

TEXT = _notebook(
    [
        _code("label: str = 'a'", ["parameters"]),
        # whitespace-only lines, a trailing comment, a multi-line string at column 0
        _code(
            "text = '''first\n   \nlast'''\n\t\nout = label + text\n    \n# done\n",
            ["mlops:fn:shout"],
        ),
        _code("res = out.upper()  # end\n   ", ["mlops:fn:second"]),
    ]
)


UNTAGGED = _notebook(
    [
        _code("rate: float = 0.5", ["parameters"]),
        _code("import json\nimport yaml\ndoc = yaml.safe_dump({'rate': rate})"),
        _code("size = len(json.dumps(doc))"),
    ]
)


def _chain(steps: int) -> dict[str, Any]:
    cells = [
        _code("start: int = 0\nscale: float = 1.5", ["parameters"]),
        _code("import math", ["mlops:setup"]),
        _code("x_1 = math.fsum([start, scale])", ["mlops:fn:step_1"]),
    ]
    cells += [
        _code(f"x_{i} = x_{i - 1} + scale", [f"mlops:fn:step_{i}"]) for i in range(2, steps + 1)
    ]
    return _notebook(cells)


def _both(
    notebook: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(our spec, the kfp compiler's spec) for the same notebook, parsed."""
    ours = MLOps().convert(notebook, "kfp", tmp_path / "ours", name=name)
    monkeypatch.setenv(COMPILER_VARIABLE, "sdk")
    sdk = MLOps().convert(notebook, "kfp", tmp_path / "sdk", name=name)
    monkeypatch.delenv(COMPILER_VARIABLE)
    assert ours.warnings == sdk.warnings
    assert ours.files[0].read_text() == sdk.files[0].read_text()  # the same _pipeline.py
    return yaml.safe_load(ours.files[1].read_text()), yaml.safe_load(sdk.files[1].read_text())


@pytest.mark.parametrize(
    ("notebook", "name"),
    [
        (EXAMPLE, None),
        (TYPED, "typed.ipynb"),
        (OPTIONS, "options.ipynb"),
        (NAMES, "we'ird\nname — ü.ipynb"),
        (TEXT, "text.ipynb"),
        (UNTAGGED, "untagged.ipynb"),
        (_chain(200), "chain200.ipynb"),
    ],
    ids=["churn", "typed", "options", "names", "text", "untagged", "chain200"],
)
def test_our_yaml_equals_the_kfp_compilers(
    notebook: Any, name: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, sdk = _both(notebook, tmp_path, monkeypatch, name)
    assert json.dumps(ours, sort_keys=True) == json.dumps(sdk, sort_keys=True)


def test_caching_off_by_default_as_kfp_reads_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KFP_DISABLE_EXECUTION_CACHING_BY_DEFAULT", "true")
    # the SDK reads the variable once, at import: import it in a fresh interpreter
    script = (
        "import sys, yaml\n"
        "from jupyter_mlops.service import MLOps\n"
        f"r = MLOps().convert({str(EXAMPLE)!r}, 'kfp', sys.argv[1])\n"
        "print(yaml.safe_load(r.files[1].read_text())['root']['dag']['tasks']['train']"
        "['cachingOptions'])\n"
    )
    outputs = []
    for compiler in ("ours", "sdk"):
        monkeypatch.setenv(COMPILER_VARIABLE, compiler)
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / compiler)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == "{}\n"


def test_a_default_with_a_line_break_keeps_the_yaml_valid(tmp_path: Path) -> None:
    # kfp's compiler copies such a default raw into its header comment, which breaks the file
    notebook = _notebook(
        [
            _code("s: str = 'one\\ntwo\\r\\u2028three'", ["parameters"]),
            _code("x = s", ["mlops:fn:f"]),
        ]
    )
    result = MLOps().convert(notebook, "kfp", tmp_path)
    spec = yaml.safe_load(result.files[1].read_text())
    assert spec["root"]["inputDefinitions"]["parameters"]["s"]["defaultValue"] == (
        "one\ntwo\r\u2028three"
    )


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([_code("données = 1", ["mlops:fn:f"])], r"function 'f': output 'données': KFP names"),
        (
            [_code("_rate: int = 1", ["parameters"]), _code("x = _rate", ["mlops:fn:f"])],
            r"parameter '_rate': KFP names",
        ),
    ],
    ids=["output", "parameter"],
)
def test_a_name_kfp_refuses_is_an_error_naming_it(
    cells: list[dict[str, Any]], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConvertError, match=message):
        MLOps().convert(_notebook(cells), "kfp", tmp_path / "ours")
    monkeypatch.setenv(COMPILER_VARIABLE, "sdk")  # the SDK refuses it too
    with pytest.raises(ConvertError, match="kfp could not compile"):
        MLOps().convert(_notebook(cells), "kfp", tmp_path / "sdk")


def test_a_memory_kfp_refuses_is_an_error_naming_the_function(tmp_path: Path) -> None:
    notebook = _notebook([_code("x = 1", ["mlops:fn:big", "mlops:memory:1.5Gi"])])
    with pytest.raises(ConvertError, match=r"function 'big': mlops:memory:1.5Gi .*4Gi"):
        MLOps().convert(notebook, "kfp", tmp_path)


def test_a_default_kfp_cannot_carry_is_an_error_naming_the_parameter(tmp_path: Path) -> None:
    notebook = _notebook(
        [_code("d: dict = {'k': None}", ["parameters"]), _code("x = d", ["mlops:fn:f"])]
    )
    with pytest.raises(ConvertError, match=r"parameter 'd': KFP cannot carry"):
        MLOps().convert(notebook, "kfp", tmp_path)


def test_the_yaml_path_does_not_import_kfp(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from jupyter_mlops.cli import main\n"
        f"code = main(['convert', {str(EXAMPLE)!r}, '--to', 'kfp', '-o', sys.argv[1]])\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('kfp', 'kubernetes')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "0 []"
    assert (tmp_path / "churn_pipeline.yaml").is_file()


def test_kfp_local_runs_our_yaml_with_the_notebooks_metrics(tmp_path: Path) -> None:
    # Given the example converted by our emitter
    result = MLOps().convert(EXAMPLE, "kfp", tmp_path / "kfp")
    package = result.files[1]

    # When kfp.local runs the YAML itself (loaded as a component: no generated Python)
    script = f"""
import warnings
warnings.simplefilter("ignore")
from kfp import components, local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root={str(tmp_path / "root")!r})
pipeline = components.load_component_from_file({str(package)!r})
pipeline(**{OVERRIDES!r})
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]

    # Then the evaluate component's artifacts hold the notebook's own metrics
    expected = run_cells_top_to_bottom(EXAMPLE, OVERRIDES)
    for name in METRICS:
        (artifact,) = (tmp_path / "root").glob(f"*/evaluate/out_{name}")
        assert mlops_load(str(artifact)) == pytest.approx(expected[name])


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    [
        "",
        "yes",
        "No",
        "null",
        "~",
        "1.5",
        "0x1F",
        "a: b",
        "- x",
        "#c",
        " lead",
        "x\n",
        "x\n\n",
        "\n  indented\nback",
        "line\n   \nlast",
        "tab\there",
        "cr\rlf",
        "\n",
        "\n\n",
        "\n\nx",
        "\u2028",
        "{{$}}",
        "python:3.11",
        "--no-deps",
        "'q'",
        '"q"',
        "\\",
        "\ufeff",
        "\x85",
        "end:",
    ]
)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(_TEXT, _DATA, max_size=5))
@settings(max_examples=300, deadline=None)
def test_yaml_text_reads_back_as_the_same_data(data: dict[str, Any]) -> None:
    assert yaml.safe_load(yaml_text.dump(data)) == (data or None)

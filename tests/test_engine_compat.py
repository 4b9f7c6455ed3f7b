"""The ``mlops`` engine against stock papermill on what real notebooks use.

Each notebook runs under stock papermill (nbclient and a real ipykernel) and under the
``mlops`` engine; both must end the same way and give the same output kinds: the same
``output_type`` sequence, stream names, mime types and metadata keys of every output.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

pytestmark = pytest.mark.kernel


def write(path: Path, *cells: str, kernelspec: dict[str, str] | None = None) -> Path:
    nb = new_notebook()
    nb.metadata.kernelspec = kernelspec or {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata.language_info = {"name": "python"}
    nb.cells = [new_code_cell(source) for source in cells]
    nbformat.write(nb, str(path))
    return path


# Stock papermill (nbclient) now and then misses the wake-up for a cell's execute_reply after
# an ipywidgets Output capture (about 1 run in 8 here): with no cell timeout it then waits
# forever, with one it finds the reply when the wait times out. Every run here has one, so a
# miss costs CELL_LIMIT seconds instead of the whole CI run, and a cell that truly hangs fails.
CELL_LIMIT = 30


def run(source: Path, output: Path, engine: str | None) -> tuple[Any, str]:
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            engine_name=engine,
            progress_bar=False,
            cwd=None,
            execution_timeout=CELL_LIMIT,
        )
        error = ""
    except PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue.splitlines()[0] if err.evalue else ''}"
    return nbformat.read(str(output), as_version=4), error


def engine_of(nb: Any) -> dict[str, Any]:
    """The engine record of an output notebook, without what warm imports add (their own
    tests check that: tests/test_warm_imports.py)."""
    record = dict(nb.metadata.mlops.engine)
    record.pop("warm", None)
    return record


def shape(nb: Any) -> list[list[tuple[Any, ...]]]:
    """Per code cell: each output's kind, stream name or mime types and metadata keys.

    Consecutive text of one stream counts once (how text is split into messages is timing).
    """
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kinds: list[tuple[Any, ...]] = []
        for output in cell.outputs:
            kind = output.output_type
            if kind == "stream":
                item: tuple[Any, ...] = (kind, output.name)
                if kinds and kinds[-1] == item:
                    continue
            elif kind == "error":
                item = (kind, output.ename)
            else:
                item = (kind, sorted(output.data), _metadata_keys(output.metadata))
            kinds.append(item)
        cells.append(kinds)
    return cells


def _metadata_keys(metadata: Any) -> list[str]:
    keys = []
    for key, value in metadata.items():
        inner = sorted(value) if isinstance(value, dict) else []
        keys.append(f"{key}:{','.join(inner)}" if inner else key)
    return sorted(keys)


def both(tmp_path: Path, *cells: str) -> tuple[Any, Any]:
    source = write(tmp_path / "in.ipynb", *cells)
    stock, stock_error = run(source, tmp_path / "stock.ipynb", None)
    ours, our_error = run(source, tmp_path / "ours.ipynb", "mlops")
    assert our_error.split(":")[0] == stock_error.split(":")[0], (stock_error, our_error)
    assert shape(ours) == shape(stock)
    return stock, ours


PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])"

FEATURES = {
    # an error while a cell's result is shown fails the cell, as ipykernel marks it
    "failing-display": (
        "class A:\n    def _ipython_display_(self):\n        raise AttributeError('x')\nA()",
        "print('after')",
    ),
    "failing-repr": (
        "class B:\n    def _repr_html_(self):\n        raise ValueError('bad')\nB()",
        "print('after')",
    ),
    "matplotlib-inline": ("%matplotlib inline", PLOT, f"{PLOT}\nplt.show()", "plt.close('all')"),
    "matplotlib-default-backend": (f"{PLOT};", "fig = plt.figure()\nfig"),
    "matplotlib-agg": ("%matplotlib agg", f"{PLOT}\nplt.show()"),
    "matplotlib-notebook": ("%matplotlib notebook", "1"),
    "matplotlib-widget-needs-ipympl": ("%matplotlib widget", "1"),
    "matplotlib-qt": ("%matplotlib qt", "1"),
    "inline-config": (
        "%matplotlib inline\n%config InlineBackend.figure_format = 'svg'",
        PLOT,
        "%config InlineBackend.figure_formats = ['png', 'retina']",
        PLOT,
        "from matplotlib_inline.backend_inline import set_matplotlib_formats\n"
        "set_matplotlib_formats('jpeg')",
        PLOT,
    ),
    "rich-reprs": (
        "from IPython.display import Image, HTML, Markdown, JSON, Latex, SVG, display\n"
        "import base64\n"
        "png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==')\n"
        "display(Image(png), HTML('<b>b</b>'), Markdown('*m*'), JSON({'a': 1}), Latex('$x$'))\n"
        "Image(png, width=10)",
        "import pandas as pd\npd.DataFrame({'a': [1, 2]})",
        "pd.Series([1, 2], name='s')",
        "class R:\n    def _repr_html_(self):\n        return '<i>r</i>'\n"
        "    def _repr_markdown_(self):\n        return '*r*'\nR()",
        "display(R(), metadata={'k': 1})",
    ),
    "timing-and-capture": (
        "%time x = sum(range(10))",
        "%timeit -n1 -r1 sum(range(10))",
        "%%capture cap\nprint('hidden')\ndisplay('shown-later')",
        "cap.show()\nprint(cap.stdout)",
        "%%time\nprint('timed')",
    ),
    "autoreload": ("%load_ext autoreload\n%autoreload 2", "import json\njson.dumps(1)"),
    "shell": (
        "!echo out; echo err >&2",
        "files = !ls /\n'usr' in files",
        "%env MLOPS_COMPAT=yes",
        "%env MLOPS_COMPAT",
        "import os\nos.environ['MLOPS_COMPAT']",
        "%cd /tmp",
        "%pwd",
        "%pip --version",
        "%%writefile f.txt\nhello",
    ),
    "pager-cell-magics-warnings": (
        "len?",
        "%%html\n<b>x</b>",
        "%%javascript\nconsole.log(1)",
        "import warnings\nwarnings.warn('careful')",
        "%who",
    ),
    "input": ("x = input('name? ')",),
    "get-ipython": (
        "ip = get_ipython()\ntype(ip).__name__, 'IPKernelApp' in ip.config",
        "ip.run_line_magic('env', 'A=1')\nip.run_cell_magic('capture', 'c', 'print(1)')",
        "ip.events.register('post_run_cell', lambda result: print('post'))",
        "ip.user_ns['z'] = 3\nz",
        "hasattr(ip, 'kernel'), ip.kernel is not None",
    ),
    "tqdm": (
        "from tqdm.auto import tqdm\nfor i in tqdm(range(3)):\n    pass",
        "from tqdm import tqdm as plain\nfor i in plain(range(3)):\n    pass",
    ),
    "ipywidgets": (
        "import ipywidgets as w\nslider = w.IntSlider(3)\nslider",
        "display(w.HTML('<b>h</b>'))\nslider.value = 5\nslider.value",
    ),
}


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_feature_gives_the_stock_outputs(name: str, tmp_path: Path) -> None:
    both(tmp_path, *FEATURES[name])


def test_an_inline_figure_is_the_stock_image(tmp_path: Path) -> None:
    stock, ours = both(tmp_path, "%matplotlib inline", PLOT + ";")
    for nb in (stock, ours):
        (output,) = nb.cells[1].outputs
        assert output.output_type == "display_data"
        assert set(output.data) == {"image/png", "text/plain"}
        assert output.data["text/plain"] == "<Figure size 640x480 with 1 Axes>"
    assert ours.cells[1].outputs[0].data == stock.cells[1].outputs[0].data


def test_a_cell_out_of_time_is_interrupted_as_stock_papermill_does(tmp_path: Path) -> None:
    # Given a cell that prints, then sleeps past the cell timeout
    source = write(
        tmp_path / "in.ipynb", "print('before')", "import time\nprint('sleeping')\ntime.sleep(60)"
    )
    shapes, errors = [], []
    for engine in (None, "mlops"):
        output = tmp_path / f"{engine}.ipynb"
        # When each engine runs it with a 3 s cell timeout
        with pytest.raises(Exception) as caught:  # noqa: PT011 (stock: nbclient's own error)
            papermill.execute_notebook(
                str(source),
                str(output),
                engine_name=engine,
                progress_bar=False,
                execution_timeout=3,
            )
        errors.append(getattr(caught.value, "ename", type(caught.value).__name__))
        shapes.append(shape(nbformat.read(str(output), as_version=4)))
    # Then both fail the same way, and the cell shows what it printed and the kernel's own
    # KeyboardInterrupt (the kernel is interrupted first), not an error made up by the engine
    assert errors[1] == errors[0]
    assert shapes[1] == shapes[0]
    assert ("error", "KeyboardInterrupt") in shapes[1][1]


def widgets(nb: Any) -> list[tuple[Any, ...]]:
    """The saved widget models: name, module and state (model ids are random)."""
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    if saved is None:
        return []
    assert (saved["version_major"], saved["version_minor"]) == (2, 0)
    models = []
    for model in saved["state"].values():
        state = model["state"]
        plain = re.sub(r"IPY_MODEL_[0-9a-f]+", "IPY_MODEL", repr(sorted(state.items())))
        plain = re.sub(r"[\d.]+it/s", "?it/s", plain)  # tqdm's rate is timing
        models.append((model["model_name"], model["model_module"], plain))
    return sorted(models)


def test_widget_state_is_saved_in_the_notebook_as_stock_papermill_saves_it(
    tmp_path: Path,
) -> None:
    stock, ours = both(
        tmp_path,
        "import ipywidgets as w\nslider = w.IntSlider(3, description='n')\nslider",
        "slider.value = 7\nfrom tqdm.auto import tqdm\nfor i in tqdm(range(3)):\n    pass",
        "import numpy as np\nw.Image(value=np.arange(4, dtype='uint8').tobytes(), format='raw')",
        "out = w.Output()\ndisplay(out)\nwith out:\n    print('in', 1)\n    print('in', 2)\n"
        "    display('shown')\nprint('after')",
        "with out:\n    out.clear_output()\n    print('again')",
    )
    assert widgets(ours) == widgets(stock)
    names = [model[0] for model in widgets(stock)]
    assert {"IntSliderModel", "FloatProgressModel", "ImageModel", "OutputModel"} <= set(names)
    (captured,) = [m[2] for m in widgets(ours) if m[0] == "OutputModel"]
    assert "'text': 'again" in captured
    assert "'in 1" not in captured
    images = [
        m
        for m in ours.metadata.widgets["application/vnd.jupyter.widget-state+json"][
            "state"
        ].values()
        if m["model_name"] == "ImageModel"
    ]
    stock_images = [
        m
        for m in stock.metadata.widgets["application/vnd.jupyter.widget-state+json"][
            "state"
        ].values()
        if m["model_name"] == "ImageModel"
    ]
    assert images[0]["buffers"] == stock_images[0]["buffers"]


# -- the rule for a stock kernel ---------------------------------------------------------


def test_a_notebook_asking_for_a_gui_event_loop_runs_on_a_stock_kernel_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a notebook that would start qt's event loop (if that branch ever ran)...
    source = write(
        tmp_path / "in.ipynb", "if False:\n    %matplotlib qt", "import sys\ntype(sys.stdout)"
    )
    with caplog.at_level(logging.WARNING, logger="jupyter_mlops.execute.engine"):
        out, error = run(source, tmp_path / "out.ipynb", "mlops")
    # ...a stock ipykernel ran it, the log says why, and so does the output notebook.
    assert error == ""
    assert "ipykernel.iostream.OutStream" in out.cells[1].outputs[0].data["text/plain"]
    assert "the notebook asks for the 'qt' GUI event loop" in caplog.text
    assert engine_of(out) == {
        "name": "papermill",
        "kernel": "python3",
        "fallback": "the notebook asks for the 'qt' GUI event loop",
    }


def test_gui_event_loops_are_refused_by_name_where_code_asks_at_run_time(tmp_path: Path) -> None:
    source = write(tmp_path / "in.ipynb", "get_ipython().enable_gui('tk')")
    out, error = run(source, tmp_path / "out.ipynb", "mlops")
    assert error  # the cell failed, with IPython's usage error on stderr as in a kernel
    (output,) = next(c for c in out.cells if c.cell_type == "code").outputs
    assert output.name == "stderr"
    assert output.text.startswith("UsageError: the mlops engine runs no 'tk' GUI event loop")
    assert engine_of(out) == {"name": "mlops", "kernel": "python3"}


# -- jupyter mlops run|sweep --engine/--kernel ---------------------------------------------

STDOUT_TYPE = "import sys\nprint(type(sys.stdout).__module__)"


def cli(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The real command, in its own process (its stderr as a terminal shows it)."""
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


def output_notebook(root: Path, run: dict[str, Any]) -> Any:
    from jupyter_mlops.service import MLOps

    service = MLOps(root_dir=str(root))
    try:
        return nbformat.read(str(service.store.artifact_path(run["output_notebook"])), 4)
    finally:
        service.close()


def printed(nb: Any) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_cli_engine_papermill_runs_on_a_stock_kernel(tmp_path: Path) -> None:
    write(tmp_path / "nb.ipynb", STDOUT_TYPE)
    code, out, err = cli(tmp_path, "run", "nb.ipynb", "--engine", "papermill", "--json")
    assert code == 0, err
    nb = output_notebook(tmp_path, json.loads(out))
    assert printed(nb) == "ipykernel.iostream\n"
    assert engine_of(nb) == {"name": "papermill", "kernel": "python3"}
    code, out, err = cli(tmp_path, "run", "nb.ipynb", "--json")
    assert code == 0, err
    nb = output_notebook(tmp_path, json.loads(out))
    assert printed(nb) == "jupyter_mlops.execute.kernel_shell\n"
    assert engine_of(nb) == {"name": "mlops", "kernel": "python3"}


@pytest.mark.parametrize(
    ("kernelspec", "refusal"),
    [
        (None, "names no kernel"),
        ({"name": "no-such-kernel", "display_name": "x", "language": "python"}, "not installed"),
    ],
    ids=["no-kernelspec", "kernel-not-installed"],
)
@pytest.mark.parametrize("engine", ["mlops", "papermill"])
def test_cli_kernel_runs_a_notebook_whose_kernelspec_cannot(
    tmp_path: Path, kernelspec: dict[str, str] | None, refusal: str, engine: str
) -> None:
    path = write(tmp_path / "nb.ipynb", "print('ran')")
    nb = nbformat.read(str(path), 4)
    if kernelspec is None:
        del nb.metadata["kernelspec"]
    else:
        nb.metadata.kernelspec = kernelspec
    nbformat.write(nb, str(path))
    # Without --kernel: one line naming the notebook and what to do, nothing recorded.
    code, out, err = cli(tmp_path, "run", "nb.ipynb", "--engine", engine)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert refusal in err
    assert "--kernel" in err
    assert not (tmp_path / ".mlops" / "work").exists() or not any(
        (tmp_path / ".mlops" / "work").iterdir()
    )
    # With it, the run succeeds on that kernel.
    code, out, err = cli(tmp_path, "run", "nb.ipynb", "--engine", engine, "-k", "python3", "--json")
    assert code == 0, err
    run = json.loads(out)
    output = output_notebook(tmp_path, run)
    assert printed(output) == "ran\n"
    assert engine_of(output) == {"name": engine, "kernel": "python3"}


def test_cli_sweep_and_unknown_kernels_and_engines(tmp_path: Path) -> None:
    write(tmp_path / "nb.ipynb", "n = 1", STDOUT_TYPE)
    nb = nbformat.read(str(tmp_path / "nb.ipynb"), 4)
    nb.cells[0].metadata.tags = ["parameters"]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    code, out, err = cli(
        tmp_path, "sweep", "nb.ipynb", "-p", "n", "1,2", "--engine", "papermill", "--json"
    )
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [printed(output_notebook(tmp_path, run)) for run in runs] == ["ipykernel.iostream\n"] * 2
    code, _, err = cli(tmp_path, "run", "nb.ipynb", "--kernel", "no-such-kernel")
    assert code == 2
    assert err.startswith("error: ")
    assert "'no-such-kernel' asked for is not installed" in err
    code, _, err = cli(tmp_path, "run", "nb.ipynb", "--engine", "fast")
    assert code == 2
    assert "invalid choice: 'fast'" in err


def test_cli_says_when_a_run_falls_back_to_a_stock_kernel(tmp_path: Path) -> None:
    write(tmp_path / "nb.ipynb", "if False:\n    %gui qt5", STDOUT_TYPE)
    code, out, err = cli(tmp_path, "run", "nb.ipynb", "--json")
    assert code == 0, err
    assert (
        "nb.ipynb: running on a stock python3 kernel, not the mlops engine: "
        "the notebook asks for the 'qt5' GUI event loop"
    ) in err
    nb = output_notebook(tmp_path, json.loads(out))
    assert printed(nb) == "ipykernel.iostream\n"
    assert nb.metadata.mlops.engine.fallback == "the notebook asks for the 'qt5' GUI event loop"


def test_the_magic_and_the_cli_share_the_engine_and_kernel_options() -> None:
    from jupyter_mlops.arguments import sweep_options
    from jupyter_mlops.cli import build_parser as cli_parser
    from jupyter_mlops.magic_grammar import build_parser as magic_parser

    for parser, head in ((cli_parser(), ["run", "n.ipynb"]), (magic_parser(), ["run"])):
        parsed = parser.parse_args([*head, "--engine", "papermill", "-k", "python3"])
        assert (parsed.engine, parsed.kernel) == ("papermill", "python3")
    for parser, head in ((cli_parser(), ["sweep", "n.ipynb"]), (magic_parser(), ["sweep"])):
        parsed = parser.parse_args([*head, "-p", "a", "1,2", "--kernel", "k", "--engine", "mlops"])
        options = sweep_options(parsed)
        assert (options["engine"], options["kernel"]) == ("mlops", "k")


def test_a_kernel_running_another_program_runs_stock_for_whole_notebooks_and_functions(
    tmp_path: Path,
) -> None:
    # Given an installed kernel whose program is not this interpreter (a wrapper script)...
    wrapper = tmp_path / "bin" / "python-wrapper"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    spec_dir = tmp_path / "share" / "jupyter" / "kernels" / "wrapped"
    spec_dir.mkdir(parents=True)
    argv = [str(wrapper), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Wrapped", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    env = {"JUPYTER_PATH": str(tmp_path / "share" / "jupyter")}
    project = tmp_path / "project"
    project.mkdir()
    path = write(
        project / "nb.ipynb",
        STDOUT_TYPE,
        kernelspec={"name": "wrapped", "display_name": "Wrapped", "language": "python"},
    )
    nb = nbformat.read(str(path), 4)
    nb.cells[0].metadata.tags = ["mlops:fn:probe"]
    nbformat.write(nb, str(path))
    reason = f"kernel 'wrapped' runs {wrapper}, not {sys.executable}"
    # ...a whole-notebook run and a function run both go to that kernel, and say so.
    for extra in ([], ["--function", "probe"]):
        code, out, err = cli(project, "run", "nb.ipynb", *extra, "--json", env=env)
        assert code == 0, err
        assert f"running on a stock wrapped kernel, not the mlops engine: {reason}" in err
        output = output_notebook(project, json.loads(out))
        assert "ipykernel.iostream\n" in printed(output)
        assert engine_of(output) == {
            "name": "papermill",
            "kernel": "wrapped",
            "fallback": reason,
        }

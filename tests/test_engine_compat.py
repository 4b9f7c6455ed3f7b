"""The ``mlops`` engine against stock papermill on what real notebooks use.

Each notebook runs under stock papermill (nbclient and a real ipykernel) and under the
``mlops`` engine; both must end the same way and give the same output kinds: the same
``output_type`` sequence, stream names, mime types and metadata keys of every output.
"""

from __future__ import annotations

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


def run(source: Path, output: Path, engine: str | None) -> tuple[Any, str]:
    try:
        papermill.execute_notebook(
            str(source), str(output), engine_name=engine, progress_bar=False, cwd=None
        )
        error = ""
    except PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue.splitlines()[0] if err.evalue else ''}"
    return nbformat.read(str(output), as_version=4), error


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

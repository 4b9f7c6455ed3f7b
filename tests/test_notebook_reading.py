"""Notebooks that Jupyter opens are read; the ones it cannot open are refused by property.

Each test writes a real .ipynb file and reads it through the same path `convert` uses; the
expected verdict is nbformat's own (``nbformat.validate`` after ``normalize``), so a test
fails if we refuse what nbformat repairs or accept what it refuses.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_mlops.errors import NotebookFormatError
from jupyter_mlops.notebook import parse_notebook, read_notebook


def _code(source: str, **extra: Any) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "metadata": {},
        "source": source,
        "outputs": [],
        "execution_count": None,
        **extra,
    }


def _notebook(cells: list[dict[str, Any]], minor: int = 4, **top: Any) -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": minor,
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "cells": cells,
        **top,
    }


def _write(tmp_path: Path, content: dict[str, Any], name: str = "nb.ipynb") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def _nbformat_opens(path: Path) -> bool:
    """What Jupyter does on open: ``nbformat.read`` (which logs, not raises, what it repairs)."""
    try:
        nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]
    except Exception:
        return False
    return True


def _nbformat_valid(path: Path) -> bool:
    try:
        nbformat.validate(json.loads(path.read_text(encoding="utf-8")))  # type: ignore[no-untyped-call]
    except nbformat.ValidationError:
        return False
    return True


def test_4_4_notebook_with_cell_ids_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    content = _notebook([_code("x = 1\n", id="a1"), _code("y = x + 1\n", id="b2")], minor=4)
    path = _write(tmp_path, content)
    assert _nbformat_opens(path)
    with caplog.at_level(logging.WARNING):
        source = read_notebook(path)
    assert [cell.get("id") for cell in source.cells] == [None, None]
    assert "cells[0].id" in caplog.text
    assert parse_notebook(path).functions


def test_markdown_cell_with_outputs_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    markdown = {"cell_type": "markdown", "metadata": {}, "source": "# T", "outputs": []}
    cells = [dict(markdown, id="c0"), _code("z = 3\n", id="c1")]
    path = _write(tmp_path, _notebook(cells, minor=5))
    assert _nbformat_opens(path)
    with caplog.at_level(logging.WARNING):
        source = read_notebook(path)
    assert "outputs" not in source.cells[0]
    assert "cells[0].outputs" in caplog.text


def test_colab_style_notebook_is_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Colab writes a top-level ``accelerator`` key, ``colab`` metadata, 4.0 cells with ids."""
    cells = [
        _code("import math\n", id="x9", metadata={"colab": {"base_uri": "https://l/"}}),
        _code("r = math.sqrt(16)\n", id="y8"),
    ]
    content = _notebook(cells, minor=0, accelerator="GPU")
    content["metadata"]["colab"] = {"provenance": [], "name": "nb.ipynb"}
    path = _write(tmp_path, content)
    assert _nbformat_opens(path)
    with caplog.at_level(logging.WARNING):
        source = read_notebook(path)
    assert "accelerator" not in source.content
    assert "accelerator" in caplog.text
    assert parse_notebook(path).functions


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (_code(["a = 1\n", 2]), "cell 1: 'source'"),
        ({"cell_type": "code", "metadata": {}, "source": "x", "outputs": "no"}, "cells[1].outputs"),
        (_code("x", execution_count="one"), "cells[1].execution_count"),
    ],
)
def test_broken_notebook_names_cell_and_property(
    tmp_path: Path, cell: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path, _notebook([_code("ok = 1\n"), cell]))
    assert not _nbformat_valid(path)
    with pytest.raises(NotebookFormatError) as caught:
        read_notebook(path)
    message = str(caught.value)
    assert expected in message
    assert "exactly by one definition" not in message


def test_papermill_output_notebook_injected_values_are_the_defaults(tmp_path: Path) -> None:
    """A notebook run by real papermill with -p: its injected values become the defaults."""
    import subprocess
    import sys

    params = _code("alpha = 0.5\nepochs = 3\nname = 'a'\n", metadata={"tags": ["parameters"]})
    body = _code("result = alpha * epochs\n", metadata={"tags": ["mlops:fn:train"]})
    source = _write(tmp_path, _notebook([params, body]), "in.ipynb")
    output = tmp_path / "out.ipynb"
    args = ["-p", "alpha", "0.25", "-p", "epochs", "7"]
    subprocess.run(
        [sys.executable, "-m", "papermill", str(source), str(output), "-k", "python3", *args],
        check=True,
        capture_output=True,
        timeout=240,
    )
    plan = parse_notebook(output)
    defaults = {parameter.name: parameter.default for parameter in plan.parameters}
    assert defaults == {"alpha": 0.25, "epochs": 7, "name": "a"}
    injected = [w for w in plan.warnings if "papermill injected" in w.message]
    assert {w.message.split("=")[0].rsplit(" ", 1)[-1] for w in injected} == {"alpha", "epochs"}
    assert {parameter.name: parameter.default for parameter in parse_notebook(source).parameters}[
        "alpha"
    ] == 0.5

    # And a tracked run of the output notebook records the injected values as its parameters,
    # for the whole notebook and for a function of it (an override still wins)
    def run(*words: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli", "run", "out.ipynb", *words, "--json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    whole = run()
    assert whole["parameters"] == {"alpha": 0.25, "epochs": 7, "name": "a"}
    train = run("--function", "train", "-p", "epochs", "2")
    assert train["parameters"] == {"alpha": 0.25, "epochs": 2}  # the ones train reads
    assert train["status"] == "succeeded"

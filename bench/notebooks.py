"""Benchmark notebooks, generated rather than checked in.

Generated so that their size is a parameter (a 200-step chain today, 2,000 tomorrow) and so
that our notebook and the peer's describe the same computation: ``chain_notebook(n)`` and
``kale_chain_notebook(n)`` differ only in their tags. Plain ``json`` on purpose: the
generators must not depend on nbformat, the very library whose reading cost we measure.

``python bench/notebooks.py DIR`` writes the three notebooks the runner uses, to look at.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Cell = dict[str, Any]
Notebook = dict[str, Any]

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
# The chain's body, shared by both grammars so the two pipelines compute the same thing.
FIRST_STEP = "x_1 = math.fsum([start, scale])"


def code_cell(source: str, tags: list[str] | None = None) -> Cell:
    """A code cell; tags go where Jupyter puts them (cell.metadata.tags)."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": tags} if tags else {},
        "outputs": [],
        "source": source,
    }


def markdown_cell(source: str) -> Cell:
    """A markdown cell: our parser uses one right before a function as its description."""
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def notebook(cells: list[Cell], extra_metadata: dict[str, Any] | None = None) -> Notebook:
    """An nbformat 4.5 notebook; cell ids are numbered so the output is reproducible."""
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"
    metadata: dict[str, Any] = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    metadata.update(extra_metadata or {})
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def chain_step(i: int) -> str:
    """Step i reads x_{i-1} (made by step i-1), so the chain is a 1-wide, n-deep DAG."""
    return FIRST_STEP if i == 1 else f"x_{i} = x_{i - 1} + scale"


def chain_notebook(n: int) -> Notebook:
    """An n-step chain in our grammar: parameters, setup, then one mlops:fn cell per step."""
    if n < 1:
        raise ValueError(f"a chain needs at least one step, got {n}")
    cells = [
        code_cell(
            "start: int = 0  # first value of the chain\nscale: float = 1.5  # added at every step",
            ["parameters"],
        ),
        code_cell("import math", ["mlops:setup"]),
    ]
    cells += [code_cell(chain_step(i), [f"mlops:fn:step_{i}"]) for i in range(1, n + 1)]
    return notebook(cells)


def kale_chain_notebook(n: int) -> Notebook:
    """The same chain in Kale 2.x grammar, for the peer baseline.

    Kale refuses a notebook without ``metadata.kubeflow_notebook`` naming the pipeline and
    the experiment (the pipeline name must be DNS-like); its parameters cell takes plain
    assignments, and every step names its predecessor with ``prev:``.
    """
    if n < 1:
        raise ValueError(f"a chain needs at least one step, got {n}")
    cells = [
        code_cell("import math", ["imports"]),
        code_cell("start = 0\nscale = 1.5", ["pipeline-parameters"]),
        code_cell(chain_step(1), ["step:step_1"]),
    ]
    cells += [
        code_cell(chain_step(i), [f"step:step_{i}", f"prev:step_{i - 1}"]) for i in range(2, n + 1)
    ]
    kale = {
        "pipeline_name": f"chain-{n}",
        "experiment_name": "jupyter-mlops-bench",
        "pipeline_description": f"{n}-step linear chain (jupyter_mlops benchmark)",
        "enable_caching": False,
    }
    return notebook(cells, {"kubeflow_notebook": kale})


def function_block(i: int, last: bool) -> list[Cell]:
    """Four cells of function f_i: a tagged cell, then cells that continue it.

    Every other block has a markdown cell in third place and every fifth ends with a
    mlops:skip cell, so the parser meets the mix a real notebook has. The last block ends
    with a mlops:metrics cell instead.
    """
    source = "start * scale" if i == 1 else f"y_{i - 1} * scale"
    third = (
        markdown_cell(f"Step {i} keeps only the finite part.")
        if i % 2 == 0
        else code_cell(f"notes_{i} = [round(y_{i}, 3)] * 3")
    )
    if last:
        fourth = code_cell(f"final = float(y_{i})", ["mlops:metrics"])
    elif i % 5 == 0:
        fourth = code_cell(f"print(y_{i})", ["mlops:skip"])
    else:
        fourth = code_cell(f"assert math.isfinite(y_{i}), y_{i}")
    return [
        code_cell(f"a_{i} = {source}", [f"mlops:fn:f_{i}"]),
        code_cell(f"y_{i} = a_{i} / (1 + abs(a_{i})) + math.sqrt(abs(a_{i}))"),
        third,
        fourth,
    ]


def large_notebook(total_cells: int = 1000, cells_per_function: int = 4) -> Notebook:
    """A notebook of exactly ``total_cells`` cells: a 4-cell header, then 4-cell functions.

    1,000 cells gives 249 functions, each reading the previous one's y; cells that do not
    fill a whole block are markdown at the end.
    """
    header = [
        markdown_cell("# Large notebook\n\nA long chain of small functions."),
        code_cell(
            "start: float = 1.0  # seed value\nscale: float = 1.01  # growth per function",
            ["parameters"],
        ),
        code_cell("import math", ["mlops:setup"]),
        markdown_cell("## Functions"),
    ]
    count = (total_cells - len(header)) // cells_per_function
    if count < 1:
        raise ValueError(f"{total_cells} cells leave no room for a function")
    cells = list(header)
    for i in range(1, count + 1):
        cells += function_block(i, last=i == count)
    cells += [markdown_cell(f"Padding {k}.") for k in range(total_cells - len(cells))]
    return notebook(cells)


def write_notebook(content: Notebook, path: Path) -> Path:
    """Write ``content`` as .ipynb JSON (indent 1, as Jupyter saves it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_all(directory: Path, steps: int = 200, cells: int = 1000) -> dict[str, Path]:
    """The three benchmark notebooks, by role: chain, large, kale_chain."""
    return {
        "chain": write_notebook(chain_notebook(steps), directory / f"chain{steps}.ipynb"),
        "large": write_notebook(large_notebook(cells), directory / f"cells{cells}.ipynb"),
        "kale_chain": write_notebook(
            kale_chain_notebook(steps), directory / f"kale_chain{steps}.ipynb"
        ),
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/notebooks.py DIR")
    for written in write_all(Path(sys.argv[1])).values():
        print(written)

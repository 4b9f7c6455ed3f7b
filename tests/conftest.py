"""Build small notebooks in memory, in any tag grammar (ours, Kale, MLRun, papermill).

A cell is written as one of:

- ``"x = 1"``: an untagged code cell;
- ``("x = 1", ["mlops:fn:load"])`` or ``("x = 1", "mlops:fn:load")``: a tagged code cell;
- ``markdown("# Title")``, ``raw("...")`` or ``code("x = 1", "tag", ...)``: a cell dict.

Tests import these helpers with ``from conftest import ...``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres import PostgresCluster, running_cluster

from jupyter_mlops.notebook import Plan, parse_notebook

# A CLI command keeps its zygotes warm for the next one (c.MLOps.keep_warm): in tests every
# command ends with its zygotes, as the leftover-process checks expect; tests/test_kept_zygotes
# turns it on where it is the subject.
os.environ["JUPYTER_MLOPS_KEEP_WARM"] = "0"
os.environ["JUPYTER_MLOPS_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="mlops-kept-", dir="/tmp")


@pytest.fixture(scope="session", autouse=True)
def _no_kept_zygote_outlives_the_suite() -> Iterator[None]:
    """Should a command still keep one (an environment built from scratch), stop it."""
    yield
    from jupyter_mlops.execute import kept

    kept.stop()


# jp_fetch, jp_serverapp and friends: a real Jupyter server for the REST API tests.
pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "churn.ipynb"

CellSpec = str | tuple[str, str | list[str]] | dict[str, Any]


def code(source: str, *tags: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"tags": list(tags)} if tags else {}
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": metadata,
        "outputs": [],
        "source": source,
    }


def markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def raw(source: str) -> dict[str, Any]:
    return {"cell_type": "raw", "metadata": {}, "source": source}


def _cell(spec: CellSpec) -> dict[str, Any]:
    if isinstance(spec, dict):
        return dict(spec)
    if isinstance(spec, str):
        return code(spec)
    source, tags = spec
    return code(source, *([tags] if isinstance(tags, str) else tags))


def make_notebook(
    *cells: CellSpec, language: str = "python", kernel: str = "python3"
) -> dict[str, Any]:
    """A valid nbformat 4.5 notebook (content, not a file) with the given cells."""
    built = []
    for index, spec in enumerate(cells):
        cell = _cell(spec)
        cell.setdefault("id", f"cell-{index}")
        built.append(cell)
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": kernel, "language": language},
            "language_info": {"name": language},
        },
        "cells": built,
    }


def plan_of(*cells: CellSpec, name: str = "notebook.ipynb") -> Plan:
    """Parse a notebook made of these cells."""
    return parse_notebook(make_notebook(*cells), name=name)


def warnings_about(plan: Plan, cell: int | None) -> list[str]:
    """The messages of the plan's warnings that point at one cell."""
    return [warning.message for warning in plan.warnings if warning.cell == cell]


@pytest.fixture
def write_notebook(tmp_path: Path) -> Callable[..., Path]:
    """Write notebook content (a dict, or raw text) to a file in a temporary folder."""

    def write(content: dict[str, Any] | str, name: str = "notebook.ipynb") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def example_plan() -> Plan:
    """The Plan of examples/churn.ipynb."""
    return parse_notebook(EXAMPLE)


# Text that breaks naive code generation: quotes, escapes, control and unicode characters.
NASTY_TEXT = [
    "it's",
    'say "hi"',
    "line1\nline2",
    "back\\slash",
    '"); import os; os.system("id"); ("',
    "'''",
    '"""',
    "\\",
    "\x00\x07\r",
    "ünï©ødé α",
    "\u2028 separator",
]


def run_cells_top_to_bottom(path, overrides):
    """A notebook's non-skip code cells run in one namespace, as a person would run them,
    with ``overrides`` applied right after the parameters cell (as papermill injects)."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    namespace = {}
    for cell in notebook["cells"]:
        tags = cell["metadata"].get("tags", [])
        if cell["cell_type"] != "code" or "mlops:skip" in tags:
            continue
        exec(compile("".join(cell["source"]), "<cell>", "exec"), namespace)
        if "parameters" in tags:
            namespace.update(overrides)
    return namespace


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throw-away PostgreSQL cluster for the session (tests/postgres.py)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The URL of a fresh, empty PostgreSQL database for one test."""
    return postgres_cluster.create_database()


MLOpsAPI = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
def mlops_api(jp_fetch: Any) -> MLOpsAPI:
    """One call of the REST API on the test's Jupyter server, its status and JSON body:
    ``await mlops_api("PUT", "deployments", NAME, "policy", body={...})``; query arguments
    as keywords. Errors are answers, not exceptions, so tests check 400/404 as they check 200."""

    async def call(method: str, *parts: str, body: Any = None, **params: str) -> tuple[int, Any]:
        response = await jp_fetch(
            "mlops", "api", *parts, method=method, params=params, raise_error=False,
            body=None if body is None else json.dumps(body),
        )  # fmt: skip
        return response.code, json.loads(response.body)

    return call

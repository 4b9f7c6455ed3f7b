"""Differential test: stock papermill and ``--engine mlops`` agree on real notebooks.

Every notebook of papermill's own test set (read from the installed wheel, never copied) and
every notebook of ``tests/corpus/notebooks`` (public data-science notebooks, origins in
``tests/corpus/SOURCES.md``) runs twice: under papermill's stock nbclient engine and under the
``mlops`` engine. Both runs must reach the same outcome (success, or the same error name) and
every code cell must produce the same kinds of outputs (stdout, stderr, ``image/png``,
``text/html``, errors, ...). Values are not compared: figures, timings and random numbers
legitimately differ between two runs of the same engine.

Stock runs are the slow part (a kernel start each), so they run ahead in a spawned worker
process while the test process runs the ``mlops`` side; each run gets its own empty working
folder so notebooks that write files do not touch the tree.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

CORPUS = Path(__file__).resolve().parent / "corpus"
CORPUS_NOTEBOOKS = CORPUS / "notebooks"
SOURCES = CORPUS / "SOURCES.md"
PAPERMILL_NOTEBOOKS = Path(str(resources.files("papermill") / "tests" / "notebooks"))

CELL_TIMEOUT = 120.0  # seconds a cell may take before both engines stop the run
STOCK_WORKERS = 2  # stock runs are the bottleneck; the mlops side mostly waits for them
MAX_CORPUS_KB = 60  # outputs are stripped: a notebook is code and a little metadata


@dataclass(frozen=True)
class Case:
    """One notebook and how papermill's own tests run it (parameters, files, timeout)."""

    name: str
    path: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    timeout: float = CELL_TIMEOUT


# How papermill's own tests call the notebooks that need something (its test_execute.py).
PAPERMILL_SETUP: dict[str, dict[str, Any]] = {
    "simple_execute.ipynb": {"parameters": {"msg": "Hello"}},
    "complex_parameters.ipynb": {"parameters": {"msg": "Hello", "a": 3.5, "c": [1, 2]}},
    "nb_version_4.4.ipynb": {"parameters": {"var": 2}},
    "report_mode_test.ipynb": {"parameters": {"a": 2}},
    "read_check.ipynb": {"files": {"check.txt": "exists"}},
    # It sleeps 60 s for the SIGINT papermill's test sends; a cell timeout stops it instead.
    "keyboard_interrupt.ipynb": {"timeout": 3.0},
}


def papermill_cases() -> list[Case]:
    """All of papermill's test notebooks. None is left out: the ones under ``s3/`` and
    ``gcs/`` are only stored there for papermill's I/O tests and read no remote path."""
    return [
        Case(
            name=f"papermill/{path.relative_to(PAPERMILL_NOTEBOOKS).as_posix()}",
            path=path,
            **PAPERMILL_SETUP.get(path.name, {}),
        )
        for path in sorted(PAPERMILL_NOTEBOOKS.rglob("*.ipynb"))
    ]


def corpus_cases() -> list[Case]:
    return [
        Case(name=f"corpus/{path.name}", path=path)
        for path in sorted(CORPUS_NOTEBOOKS.glob("*.ipynb"))
    ]


CASES = papermill_cases() + corpus_cases()


@dataclass(frozen=True)
class Summary:
    """What two engines must agree on: the outcome and each code cell's output kinds."""

    outcome: str  # "success" or the error name
    cells: tuple[tuple[str, tuple[str, ...]], ...]  # (first source line, sorted output kinds)

    def kinds(self) -> set[str]:
        return {kind for _, kinds in self.cells for kind in kinds}


def output_kinds(output: Any) -> set[str]:
    """``stream:stdout``, ``error:NameError``, ``display_data:image/png``, ..."""
    kind = output["output_type"]
    if kind == "stream":
        return {f"stream:{output['name']}"}
    if kind == "error":
        return {f"error:{output['ename']}"}
    return {f"{kind}:{mime}" for mime in output.get("data", {})}


def summarize(nb: Any, outcome: str) -> Summary:
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":  # papermill adds markdown cells around a failure
            continue
        kinds: set[str] = set()
        for output in cell.get("outputs", []):
            kinds |= output_kinds(output)
        first_line = cell.source.strip().split("\n", 1)[0][:70]
        cells.append((first_line, tuple(sorted(kinds))))
    return Summary(outcome, tuple(cells))


def outcome_of(error: BaseException) -> str:
    if isinstance(error, PapermillExecutionError):
        return str(error.ename)
    return type(error).__name__


# jupyter_client picks a stock kernel's five ports free, then the kernel binds them: under a
# loaded suite another process can take one in between, and the kernel dies at start
# ("Address already in use"; nbclient: "Kernel died before replying to kernel_info"). That is
# the machine, not the notebook: such a run is tried once more, in a new folder.
KERNEL_START_RACE = "Kernel died before replying to kernel_info"


def run(case: Case, folder: Path, engine: str | None) -> Summary:
    """Execute ``case`` with one engine in ``folder`` (its own cwd) and summarize the result."""
    try:
        return _run_once(case, folder, engine)
    except _KernelStartRaceError:
        return _run_once(case, folder.with_name(folder.name + "-again"), engine)


class _KernelStartRaceError(Exception):
    pass


def _run_once(case: Case, folder: Path, engine: str | None) -> Summary:
    cwd = folder / "cwd"
    cwd.mkdir(parents=True)
    for name, text in case.files.items():
        (cwd / name).write_text(text)
    output = folder / "out.ipynb"
    where: dict[str, Any] = (
        {"cwd": str(cwd)} if engine is None else {"mlops_cwd": str(cwd)}
    )  # the stock run happens in its own worker process, so a chdir there is harmless
    outcome = "success"
    try:
        papermill.execute_notebook(
            str(case.path),
            str(output),
            parameters=case.parameters,
            engine_name=engine,
            progress_bar=False,
            execution_timeout=case.timeout,
            **where,
        )
    except Exception as error:  # the outcome is what we compare, whatever it is
        if isinstance(error, RuntimeError) and KERNEL_START_RACE in str(error):
            raise _KernelStartRaceError(str(error)) from error
        outcome = outcome_of(error)
    if not output.exists():  # failed before the first save: no cells ran
        return Summary(outcome, ())
    return summarize(nbformat.read(str(output), as_version=4), outcome)


def run_stock(case: Case, folder: Path) -> Summary:
    """The worker process's job (module level, so a spawned process can import it)."""
    return run(case, folder, engine=None)


def difference(stock: Summary, ours: Summary) -> str | None:
    """None when the summaries agree, else a message that names the first differing cell."""
    problems = []
    if stock.outcome != ours.outcome:
        problems.append(f"outcome: stock {stock.outcome}, mlops {ours.outcome}")
    for index in range(max(len(stock.cells), len(ours.cells))):
        mine = ours.cells[index] if index < len(ours.cells) else ("<missing>", ())
        theirs = stock.cells[index] if index < len(stock.cells) else ("<missing>", ())
        if mine != theirs:
            problems.append(
                f"first differing code cell #{index} ({theirs[0]!r}): "
                f"stock {list(theirs[1])}, mlops {list(mine[1])}"
            )
            break
    if not problems:
        return None
    only_stock = sorted(stock.kinds() - ours.kinds())
    only_ours = sorted(ours.kinds() - stock.kinds())
    problems.append(f"kinds only under stock: {only_stock}; only under mlops: {only_ours}")
    return "; ".join(problems)


# -- the stock runs, started ahead ---------------------------------------------------------


@pytest.fixture(scope="session")
def stock_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Summary]]]:
    """Submit the stock run of every selected case at once, in test order, to the workers."""
    import matplotlib.font_manager  # build the font cache once, not inside the first run

    matplotlib.font_manager.findfont("DejaVu Sans")
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_mlops_engine_matches_stock"
    ]
    root = tmp_path_factory.mktemp("stock")
    context = multiprocessing.get_context("spawn")  # no fork of a process running threads
    with ProcessPoolExecutor(max_workers=STOCK_WORKERS, mp_context=context) as pool:
        futures = {
            case.name: pool.submit(run_stock, case, root / re.sub(r"\W", "_", case.name))
            for case in selected
        }
        yield futures
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_mlops_engine_matches_stock(
    case: Case, stock_runs: dict[str, Future[Summary]], tmp_path: Path
) -> None:
    ours = run(case, tmp_path / "mlops", engine="mlops")
    stock = stock_runs[case.name].result(timeout=600)
    problem = difference(stock, ours)
    assert problem is None, f"{case.name}: {problem}"


def test_a_difference_names_the_first_differing_cell() -> None:
    """The comparison itself, on two in-memory outputs: one cell differs, the message says so."""

    def notebook(*outputs: list[dict[str, Any]]) -> Any:
        cells = [new_code_cell(f"cell_{index}()") for index in range(len(outputs))]
        for cell, cell_outputs in zip(cells, outputs, strict=True):
            cell.outputs = [nbformat.from_dict(output) for output in cell_outputs]
        return new_notebook(cells=[new_markdown_cell("# title"), *cells])

    text = {"output_type": "stream", "name": "stdout", "text": "hi"}
    png = {
        "output_type": "display_data",
        "data": {"image/png": "", "text/plain": ""},
        "metadata": {},
    }
    stock = summarize(notebook([text], [png], []), "success")
    assert difference(stock, summarize(notebook([text], [png], []), "success")) is None
    ours = summarize(notebook([text], [text], []), "success")
    message = difference(stock, ours)
    assert message is not None
    assert "first differing code cell #1 ('cell_1()')" in message
    assert "only under stock: ['display_data:image/png', 'display_data:text/plain']" in message
    failed = difference(stock, summarize(notebook([text], [png], []), "NameError"))
    assert failed is not None
    assert failed.startswith("outcome: stock success, mlops NameError")


# -- the corpus itself ---------------------------------------------------------------------


def recorded_sources() -> dict[str, str]:
    """File name -> its row in SOURCES.md (the table's first column is the file name)."""
    rows = {}
    for line in SOURCES.read_text().splitlines():
        match = re.match(r"\|\s*`([^`]+\.ipynb)`\s*\|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_the_corpus_is_large_stripped_and_every_origin_recorded() -> None:
    notebooks = sorted(CORPUS_NOTEBOOKS.glob("*.ipynb"))
    assert len(notebooks) >= 40, f"only {len(notebooks)} corpus notebooks"
    rows = recorded_sources()
    assert sorted(rows) == [path.name for path in notebooks], "SOURCES.md and the folder differ"
    for path in notebooks:
        row = rows[path.name]
        assert re.search(r"\b(MIT|BSD-3-Clause|BSD-2-Clause|Apache-2\.0|CC-BY-4\.0|PSF)", row), (
            f"{path.name}: no license in SOURCES.md"
        )
        assert re.search(r"\b[0-9a-f]{40}\b", row), f"{path.name}: no commit in SOURCES.md"
        assert path.stat().st_size <= MAX_CORPUS_KB * 1024, f"{path.name} is too large"
        nb = json.loads(path.read_text())
        nbformat.validate(nbformat.from_dict(nb))  # type: ignore[no-untyped-call]
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name} cell {index} keeps outputs"
                assert cell["execution_count"] is None, f"{path.name} cell {index} has a count"

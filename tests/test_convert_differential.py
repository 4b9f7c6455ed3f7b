"""Differential test of the converters: generated code means what the notebook means.

For every notebook of the public corpus that ``test_differential.py`` runs (papermill's own
test notebooks and ``tests/corpus/notebooks``; the same cases, imported, never listed twice):

1. the notebook runs under papermill (the ``mlops`` engine, which ``test_differential.py``
   holds to stock papermill's outcomes), with one cell appended that prints the fingerprints
   of the names the last function returns;
2. ``convert --to python``, then the module's ``run_pipeline`` in a fresh ``python`` process
   in an empty folder;
3. ``convert --to notebooks``, then each generated notebook under papermill, in the
   manifest's order, and the last function's saved outputs read back.

All three must reach the same outcome (success, or the same error name), and give the same
fingerprints (``convert_fingerprint.py``: numbers to 9 digits, arrays by shape, dtype and sum,
other objects by type). Names whose value differs between two runs of the module itself
(unseeded random numbers, times) are not compared. A notebook whose conversion cannot keep its
meaning must be refused by ``convert`` (an error naming why); ``EXPECTED`` lists each case that
differs, with the reason, and is itself checked, so an entry cannot outlive its cause.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from test_differential import CASES, Case

from jupyter_mlops.convert.runtime_io import mlops_load
from jupyter_mlops.errors import MLOpsError
from jupyter_mlops.notebook import parse_notebook
from jupyter_mlops.service import MLOps

TESTS = Path(__file__).resolve().parent
CELL_TIMEOUT = 120.0

# case name -> why its converted code cannot match (each one is asserted to still differ)
EXPECTED: dict[str, str] = {}


def last_outputs(plan: Any) -> list[str]:
    return list(plan.functions[-1].outputs) if plan.functions else []


def fingerprint_cell(names: list[str], target: Path) -> str:
    return (
        "import json as _j, sys as _s\n"
        f"_s.path.insert(0, {str(TESTS)!r})\n"
        "from convert_fingerprint import fingerprints as _f\n"
        f"_j.dump(_f({{_n: globals()[_n] for _n in {names!r} if _n in globals()}}), "
        f"open({str(target)!r}, 'w'))"
    )


def outcome_of(error: BaseException) -> str:
    ename = getattr(error, "ename", None)
    return str(ename) if ename else type(error).__name__


def run_notebook(case: Case, names: list[str], folder: Path) -> tuple[str, dict[str, Any]]:
    cwd = folder / "notebook"
    cwd.mkdir(parents=True)
    for name, text in case.files.items():
        (cwd / name).write_text(text)
    nb = nbformat.read(str(case.path), as_version=4)  # type: ignore[no-untyped-call]
    values = folder / "notebook.json"
    epilogue = nbformat.v4.new_code_cell(fingerprint_cell(names, values))  # type: ignore[no-untyped-call]
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        del epilogue["id"]  # cell ids came with nbformat 4.5
    nb.cells.append(epilogue)
    source = folder / "with-epilogue.ipynb"
    nbformat.write(nb, str(source))  # type: ignore[no-untyped-call]
    try:
        papermill.execute_notebook(
            str(source),
            str(folder / "notebook-out.ipynb"),
            parameters=case.parameters,
            engine_name="mlops",
            progress_bar=False,
            execution_timeout=case.timeout,
            mlops_cwd=str(cwd),
        )
    except Exception as error:
        return outcome_of(error), {}
    if not values.exists():  # stopped early without failing the run: sys.exit() in a cell
        return stopped_by(folder / "notebook-out.ipynb") or "success", {}
    return "success", json.loads(values.read_text())


def stopped_by(output: Path) -> str | None:
    """The error that stopped a run papermill did not fail (a ``SystemExit`` in a cell)."""
    ran = nbformat.read(str(output), as_version=4)  # type: ignore[no-untyped-call]
    errors = [o.ename for c in ran.cells for o in c.get("outputs", []) if "ename" in o]
    return errors[0] if errors else None


MODULE_DRIVER = """
import json, sys, traceback
sys.path.insert(0, {tests!r})
from convert_fingerprint import fingerprints
import {module} as generated
try:
    out = generated.run_pipeline(**{parameters!r})
except BaseException as error:
    print(json.dumps({{"outcome": type(error).__name__}}))
    raise SystemExit(0)
print(json.dumps({{"outcome": "success",
                   "values": fingerprints({{n: out[n] for n in {names!r} if n in out}})}}))
"""


def run_module(
    case: Case, module: Path, names: list[str], folder: Path
) -> tuple[str, dict[str, Any]]:
    cwd = folder / "module-cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    for name, text in case.files.items():
        (cwd / name).write_text(text)
    driver = MODULE_DRIVER.format(
        tests=str(TESTS), module=module.stem, parameters=case.parameters, names=names
    )
    env_path = str(module.parent)
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n{driver}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CELL_TIMEOUT * 2,
        check=False,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": str(folder)},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"outcome"')]
    if not lines:  # the import itself failed
        last = (done.stderr.strip().splitlines() or ["ImportError"])[-1]
        return last.split(":", 1)[0].split(".")[-1], {}
    result = json.loads(lines[-1])
    return str(result["outcome"]), dict(result.get("values", {}))


def run_function_notebooks(
    case: Case, service: MLOps, plan: Any, folder: Path
) -> tuple[str, dict[str, Any]]:
    built = folder / "notebooks"
    service.convert(case.path, "notebooks", built)
    manifest = json.loads((built / "pipeline.json").read_text())
    data = folder / "data"
    cwd = folder / "notebooks-cwd"
    cwd.mkdir()
    for name, text in case.files.items():
        (cwd / name).write_text(text)
    for function in manifest["functions"]:
        parameters = {"mlops_data_dir": str(data)}
        parameters.update({k: v for k, v in case.parameters.items() if k in function["parameters"]})
        try:
            papermill.execute_notebook(
                str(built / function["notebook"]),
                str(folder / f"out-{function['notebook']}"),
                parameters=parameters,
                engine_name="mlops",
                progress_bar=False,
                execution_timeout=case.timeout,
                mlops_cwd=str(cwd),
            )
        except Exception as error:
            return outcome_of(error), {}
        stopped = stopped_by(folder / f"out-{function['notebook']}")
        if stopped is not None:
            return stopped, {}
    last = plan.functions[-1]
    from convert_fingerprint import fingerprints

    saved = [n for n in last.outputs if (data / last.identifier / n).exists()]
    values = {n: mlops_load(str(data / last.identifier / n)) for n in saved}  # others reported
    return "success", json.loads(json.dumps(fingerprints(values)))


def differences(reference: tuple[str, dict[str, Any]], other: tuple[str, dict[str, Any]],
                unstable: set[str]) -> list[str]:  # fmt: skip
    problems = []
    if reference[0] != other[0]:
        problems.append(f"outcome {reference[0]} against {other[0]}")
    for name, value in reference[1].items():
        if name in unstable or name not in other[1]:
            continue
        if other[1][name] != value:
            problems.append(f"{name}: {value!r:.120} against {other[1][name]!r:.120}")
    return problems


# The notebooks whose runs papermill's own tests stop from outside (a cell timeout, as for
# keyboard_interrupt.ipynb): what they test is papermill's runner, not the notebook's code.
CONVERTED = [case for case in CASES if case.timeout == CELL_TIMEOUT]
# A note, not a change: every untagged notebook is one function, and its conversion says so.
WHOLE_NOTEBOOK = "notebook: no function tags"


def telling(warnings: list[str]) -> list[str]:
    """The warnings of a conversion that say it changes or drops something."""
    return [w for w in warnings if not w.startswith(WHOLE_NOTEBOOK)]


@pytest.mark.kernel
@pytest.mark.parametrize("case", CONVERTED, ids=[case.name for case in CONVERTED])
def test_generated_code_means_what_the_notebook_means(case: Case, tmp_path: Path) -> None:
    service = MLOps(root_dir=str(tmp_path))
    refused = None
    try:
        plan = parse_notebook(case.path)
        result = service.convert(case.path, "python", tmp_path / "py")
    except MLOpsError as error:  # refused by name: the notebook is not silently changed
        refused = str(error)
    if refused is not None:
        assert case.name not in EXPECTED
        assert refused.strip(), case.name
        return
    (module,) = result.files
    names = last_outputs(plan)
    # The two module runs are plain processes (threads only wait for them); the kernel runs
    # in this thread, as papermill expects (its client's sockets belong to one thread).
    with ThreadPoolExecutor(2) as pool:
        first_run = pool.submit(run_module, case, module, names, tmp_path / "m1")
        second_run = pool.submit(run_module, case, module, names, tmp_path / "m2")
        notebook = run_notebook(case, names, tmp_path)
        first, second = first_run.result(), second_run.result()
    unstable = {n for n in first[1] if first[1].get(n) != second[1].get(n)}
    silent = []
    if differences(notebook, first, unstable) and not telling(result.warnings):
        silent += [f"python module: {p}" for p in differences(notebook, first, unstable)]
    notebooks = run_function_notebooks(case, service, plan, tmp_path)
    kernel_warnings = telling(service.convert(case.path, "notebooks", tmp_path / "nb2").warnings)
    if differences(notebook, notebooks, unstable) and not kernel_warnings:
        silent += [f"function notebooks: {p}" for p in differences(notebook, notebooks, unstable)]
    service.close()
    if case.name in EXPECTED:
        assert silent, f"{case.name} now matches or is warned about: remove it from EXPECTED"
        return
    # A difference is allowed only where convert warned (so --strict refuses): never silent
    assert not silent, f"{case.name}: " + "; ".join(silent)

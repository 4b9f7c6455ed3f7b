"""The ``mlops`` papermill engine: same outputs as stock papermill, isolated runs, faults.

Every test here starts kernel processes (forks of the zygote; the equivalence tests also
start stock Jupyter kernels), hence the ``kernel`` marker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from papermill.exceptions import PapermillExecutionError

from jupyter_mlops.errors import ExecutionError
from jupyter_mlops.execute import zygotes
from jupyter_mlops.execute.engine import ExecutionControl

pytestmark = pytest.mark.kernel

PAPERMILL_NOTEBOOKS = Path(papermill.__file__).parent / "tests" / "notebooks"

Cell = str | tuple[str, list[str]]


def write_notebook(path: Path, *cells: Cell, language: str = "python") -> Path:
    nb = new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.language_info = {"name": language}
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        node = new_code_cell(source)
        if tags:
            node.metadata.tags = tags
        nb.cells.append(node)
    nbformat.write(nb, str(path))
    return path


def run_mlops(source: Path, output: Path, **options: Any) -> Any:
    return papermill.execute_notebook(
        str(source), str(output), engine_name="mlops", progress_bar=False, **options
    )


def run_both(source: Path, tmp_path: Path, **options: Any) -> tuple[Any, Any, str, str]:
    """Both engines on one notebook: each output notebook and each one's error name."""
    results: list[Any] = []
    errors: list[str] = []
    # a cell limit, so a lost wake-up in stock nbclient costs a minute, not the CI run (see
    # test_engine_compat.CELL_LIMIT)
    options.setdefault("execution_timeout", 60)
    for engine in (None, "mlops"):
        output = tmp_path / f"out-{engine}.ipynb"
        try:
            papermill.execute_notebook(
                str(source), str(output), engine_name=engine, progress_bar=False, **options
            )
            errors.append("")
        except PapermillExecutionError as err:
            errors.append(err.ename)
        results.append(nbformat.read(str(output), as_version=4))
    return results[0], results[1], errors[0], errors[1]


def comparable(nb: Any) -> list[Any]:
    """What two stock runs of a notebook agree on: no timings, no traceback file paths."""
    cells = []
    for cell in nb.cells:
        outputs: list[dict[str, Any]] = []
        for output in cell.get("outputs", []):
            output = dict(output)
            if output["output_type"] == "error":
                output["traceback"] = bool(output["traceback"])
            previous = outputs[-1] if outputs else None
            if (  # how stream text is split into messages depends on timing
                previous is not None
                and output["output_type"] == "stream"
                and previous["output_type"] == "stream"
                and previous["name"] == output["name"]
            ):
                previous["text"] += output["text"]
                continue
            outputs.append(output)
        status = cell.metadata.get("papermill", {})
        cells.append(
            (
                cell.cell_type,
                cell.source,
                cell.get("execution_count"),
                json.loads(json.dumps(outputs, default=str)),
                status.get("status"),
                status.get("exception"),
            )
        )
    return [nb.metadata.get("language_info"), nb.metadata.papermill.get("exception"), cells]


FEATURES = (
    ("alpha = 0.1\nname = 'x'", ["parameters"]),
    "print('hello', alpha, name)\nimport sys\nprint('err', file=sys.stderr)\nprint('again')",
    "from IPython.display import display, HTML, Markdown\n"
    "display(HTML('<b>hi</b>'))\ndisplay(Markdown('*m*'))\n1 + 1",
    "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})\ndf",
    "!echo shell-out",
    "%%bash\necho from-bash\necho bash-err >&2",
    "dh = display('one', display_id='mine')\ndisplay('other')",
    "dh.update('two')\nfrom IPython.display import update_display\n"
    "update_display('three', display_id='mine')",
    "from IPython.display import clear_output\nprint('gone')\nclear_output(wait=True)\n"
    "print('kept')",
    "print('soon gone')\nclear_output()",
    "import logging\nlogging.warning('logged')",
    "import os\n%pwd == os.getcwd()",
    "captured = !echo captured\ncaptured",
    "class R:\n    def _repr_html_(self):\n        return '<i>r</i>'\n"
    "    def __repr__(self):\n        return 'R()'\nR()",
    "print(__name__, sys.path[-4:], sys.argv[1])",
    "# only a comment",
    "",
    "import asyncio\nawait asyncio.sleep(0)\n'awaited'",
    "import numpy as np\nnp.float64(1.5)",
    "print(In[-2][:10], _exit_code)",
    "sorted(k for k in ('TERM', 'CLICOLOR', 'PAGER', 'MPLBACKEND', 'JPY_PARENT_PID')"
    " if k in os.environ), os.environ['MPLBACKEND']",
    "x = 5\nx;",
    "x",
)


@pytest.mark.parametrize(
    "name",
    [
        "simple_execute.ipynb",
        "no_parameters.ipynb",
        "broken1.ipynb",
        "broken2.ipynb",
        "sysexit.ipynb",
        "sysexit0.ipynb",
        "sysexit1.ipynb",
        "systemexit.ipynb",
        "line_magic_error.ipynb",
        "complex_parameters.ipynb",
    ],
)
def test_papermill_test_notebooks_give_the_stock_outputs(name: str, tmp_path: Path) -> None:
    stock, ours, stock_error, our_error = run_both(PAPERMILL_NOTEBOOKS / name, tmp_path)
    assert our_error == stock_error
    assert comparable(ours) == comparable(stock)


@pytest.mark.parametrize(
    "cells",
    [
        pytest.param(FEATURES, id="features"),
        pytest.param(("print('before')", "raise KeyboardInterrupt", "print('no')"), id="kbint"),
        pytest.param(("answer = input('? ')", "print('no')"), id="input"),
        pytest.param(("import getpass\ngetpass.getpass()",), id="getpass"),
        pytest.param(("def f():\n    raise ValueError('deep')\nf()",), id="traceback"),
    ],
)
def test_own_notebooks_give_the_stock_outputs(cells: tuple[Cell, ...], tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "in.ipynb", *cells)
    stock, ours, stock_error, our_error = run_both(
        source, tmp_path, parameters={"alpha": 0.5, "name": 'it\'s "q"'}
    )
    assert our_error == stock_error
    assert comparable(ours) == comparable(stock)


def test_markdown_and_empty_cells_are_skipped_without_a_count(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "in.ipynb", "1", "   ", "2")
    nb = nbformat.read(str(source), as_version=4)
    nb.cells.insert(1, new_markdown_cell("# title"))
    nbformat.write(nb, str(source))
    out = run_mlops(source, tmp_path / "out.ipynb")
    assert [c.get("execution_count") for c in out.cells] == [1, None, None, 2]
    assert out.cells[3].outputs[0].data["text/plain"] == "2"


# -- isolation --------------------------------------------------------------------------

LEAKS = """
import atexit, io, json, os, sys
leaked_global = 1
json.mlops_leak = 1
sys.path.append('/mlops-leak')
os.environ['MLOPS_LEAK'] = '1'
atexit.register(print, 'bye')
sys.modules['mlops_leaky'] = json
os.chdir('/')
"""

CHECK = """
import atexit, json, os, sys
print(sorted(
    name for name, leaked in [
        ('global', 'leaked_global' in globals()),
        ('module attribute', hasattr(json, 'mlops_leak')),
        ('sys.path', '/mlops-leak' in sys.path),
        ('os.environ', 'MLOPS_LEAK' in os.environ),
        ('atexit', atexit._ncallbacks() > BASELINE),
        ('sys.modules', 'mlops_leaky' in sys.modules),
        ('cwd', os.getcwd() != EXPECTED_CWD),
        ('sys.stdout', type(sys.stdout).__name__ != 'OutStream'),
    ] if leaked
))
"""


def test_nothing_a_run_changes_reaches_the_next_run(tmp_path: Path) -> None:
    probe = write_notebook(tmp_path / "probe.ipynb", "import atexit\natexit._ncallbacks()")
    baseline = run_mlops(probe, tmp_path / "p.ipynb").cells[0].outputs[0].data["text/plain"]
    check = CHECK.replace("BASELINE", baseline).replace("EXPECTED_CWD", repr(str(tmp_path)))
    # Given a run whose own check sees every change it made (so the check can fail)...
    leaky = write_notebook(tmp_path / "leaky.ipynb", LEAKS, check, "sys.stdout = io.StringIO()")
    out = run_mlops(leaky, tmp_path / "l.ipynb", mlops_cwd=str(tmp_path))
    assert out.cells[1].outputs[0].text.strip() == (
        "['atexit', 'cwd', 'global', 'module attribute', 'os.environ', 'sys.modules', 'sys.path']"
    )
    # ...the next run sees none of it.
    clean = write_notebook(tmp_path / "clean.ipynb", check)
    out = run_mlops(clean, tmp_path / "c.ipynb", mlops_cwd=str(tmp_path))
    assert out.cells[0].outputs[0].text.strip() == "[]"


def test_parallel_runs_in_threads_get_their_own_outputs(tmp_path: Path) -> None:
    source = write_notebook(
        tmp_path / "in.ipynb",
        ("n = 0", ["parameters"]),
        "import time\nfor i in range(3):\n    print(n, i)\n    time.sleep(0.02)",
        "n * 10",
    )
    results: dict[int, Any] = {}

    def one(n: int) -> None:
        results[n] = run_mlops(source, tmp_path / f"out-{n}.ipynb", parameters={"n": n})

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for n in range(4):
        cells = results[n].cells
        assert "".join(o.text for o in cells[2].outputs) == f"{n} 0\n{n} 1\n{n} 2\n"
        assert cells[3].outputs[0].data["text/plain"] == str(n * 10)


def test_run_cwd_and_env_apply_to_the_run_only(tmp_path: Path) -> None:
    source = write_notebook(
        tmp_path / "in.ipynb", "import os\nprint(os.getcwd(), os.environ['MLOPS_X'])"
    )
    out = run_mlops(
        source, tmp_path / "o.ipynb", mlops_cwd=str(tmp_path), mlops_env={"MLOPS_X": "y"}
    )
    assert out.cells[0].outputs[0].text == f"{tmp_path} y\n"
    assert "MLOPS_X" not in os.environ


# -- collecting and saving --------------------------------------------------------------


def test_metrics_and_saved_values(tmp_path: Path) -> None:
    source = write_notebook(
        tmp_path / "in.ipynb",
        "import numpy as np\nacc = 0.9\nn = 3\nflag = True\nz = np.int64(4)\nname = 'a'\n"
        "rows = [1, 2]",
    )
    out = run_mlops(
        source,
        tmp_path / "o.ipynb",
        mlops_collect=["acc", "n", "flag", "z", "name", "unbound"],
        mlops_save={"rows": str(tmp_path / "rows.json"), "gone": str(tmp_path / "gone.json")},
    )
    assert out.metadata.mlops.metrics == {"acc": 0.9, "n": 3.0, "z": 4.0}
    assert out.metadata.mlops.missing == ["gone"]
    from jupyter_mlops.convert.runtime_io import mlops_load

    assert mlops_load(str(tmp_path / "rows.json")) == [1, 2]
    saved = nbformat.read(str(tmp_path / "o.ipynb"), as_version=4)
    assert saved.metadata.mlops.metrics["acc"] == 0.9


def test_a_failed_run_still_reports_its_metrics_but_saves_nothing(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "in.ipynb", "loss = 1.5\nrows = [1]", "1 / 0")
    with pytest.raises(PapermillExecutionError) as caught:
        run_mlops(
            source,
            tmp_path / "o.ipynb",
            mlops_collect=["loss"],
            mlops_save={"rows": str(tmp_path / "rows.json")},
        )
    assert caught.value.ename == "ZeroDivisionError"
    saved = nbformat.read(str(tmp_path / "o.ipynb"), as_version=4)
    assert saved.metadata.mlops.metrics == {"loss": 1.5}
    assert not (tmp_path / "rows.json").exists()


# -- faults -----------------------------------------------------------------------------


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _when_running(control: ExecutionControl, action: Any, delay: float = 0.3) -> None:
    def act() -> None:
        for _ in range(200):
            if control.pid is not None:
                break
            time.sleep(0.02)
        time.sleep(delay)
        action()

    threading.Thread(target=act, daemon=True).start()


def _zygote_pid() -> int:
    assert zygotes._zygote is not None
    return zygotes._zygote.process.pid


def _assert_stopped_at_cell_1(output: Path, ename: str) -> Any:
    nb = nbformat.read(str(output), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].outputs[0].text == "started\n"
    assert code[1].outputs[-1].output_type == "error"
    assert code[1].outputs[-1].ename == ename
    assert code[1].metadata.papermill.status == "failed"
    assert code[2].metadata.papermill.status == "pending"
    return code[1].outputs[-1]


def test_a_kernel_killed_mid_cell_fails_the_run_and_the_zygote_serves_on(tmp_path: Path) -> None:
    source = write_notebook(
        tmp_path / "in.ipynb", "print('started')", "!sleep 101.25", "print('never')"
    )
    control = ExecutionControl()
    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(time.monotonic())
        assert control.pid is not None
        os.kill(control.pid, signal.SIGKILL)

    _when_running(control, kill)
    with pytest.raises(PapermillExecutionError) as caught:
        run_mlops(source, tmp_path / "out.ipynb", mlops_control=control)
    noticed = time.monotonic() - killed_at[0]
    assert noticed < 1.5
    assert caught.value.ename == "DeadKernelError"
    error = _assert_stopped_at_cell_1(tmp_path / "out.ipynb", "DeadKernelError")
    assert "cell 1" in error.evalue
    assert "SIGKILL" in error.evalue
    assert _processes_with("101.25") == []
    zygote = _zygote_pid()
    ok = write_notebook(tmp_path / "ok.ipynb", "print('served')")
    assert run_mlops(ok, tmp_path / "ok-out.ipynb").cells[0].outputs[0].text == "served\n"
    assert _zygote_pid() == zygote


@pytest.mark.parametrize(
    ("ename", "marker"),
    [("CellTimeoutError", "102.25"), ("RunCancelled", "103.25"), ("RunTimeout", "104.25")],
)
def test_timeouts_and_cancel_kill_the_whole_tree(ename: str, marker: str, tmp_path: Path) -> None:
    source = write_notebook(
        tmp_path / "in.ipynb",
        "print('started')",
        f"import subprocess\nchild = subprocess.Popen(['sleep', '{marker}'])\n!sleep {marker}",
        "print('never')",
    )
    control = ExecutionControl()
    options: dict[str, Any] = {"mlops_control": control}
    if ename == "CellTimeoutError":
        options["execution_timeout"] = 1
    elif ename == "RunCancelled":
        _when_running(control, control.cancel, delay=0.6)
    else:
        control.deadline = time.monotonic() + 1.2
    zygote = zygotes._zygote.process.pid if zygotes._zygote else None
    started = time.monotonic()
    with pytest.raises(PapermillExecutionError) as caught:
        run_mlops(source, tmp_path / "out.ipynb", **options)
    assert time.monotonic() - started < 5
    assert caught.value.ename == ename
    _assert_stopped_at_cell_1(tmp_path / "out.ipynb", ename)
    assert control.pid is not None
    assert _processes_with(marker) == []
    assert not os.path.exists(f"/proc/{control.pid}")
    assert zygote is None or _zygote_pid() == zygote
    assert control.cancelled == (ename == "RunCancelled")


def test_cancel_before_start_fails_the_first_code_cell(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "in.ipynb", "print('no')")
    control = ExecutionControl()
    control.cancel()
    with pytest.raises(PapermillExecutionError) as caught:
        run_mlops(source, tmp_path / "out.ipynb", mlops_control=control)
    assert caught.value.ename == "RunCancelled"


def test_a_missing_working_directory_is_a_clear_error(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "in.ipynb", "print('no')")
    with pytest.raises(ExecutionError, match="working directory"):
        run_mlops(source, tmp_path / "out.ipynb", mlops_cwd=str(tmp_path / "nowhere"))


def test_a_dead_zygote_is_restarted(tmp_path: Path) -> None:
    source = write_notebook(tmp_path / "in.ipynb", "print('up')")
    run_mlops(source, tmp_path / "a.ipynb")
    assert zygotes._zygote is not None
    old = zygotes._zygote.process
    old.kill()
    old.wait(5)
    for _ in range(100):  # its reader thread notices the closed pipe
        if not zygotes._zygote.alive:
            break
        time.sleep(0.01)
    assert run_mlops(source, tmp_path / "b.ipynb").cells[0].outputs[0].text == "up\n"
    assert _zygote_pid() != old.pid


# -- papermill options ------------------------------------------------------------------


def test_output_reaches_stdout_file_and_fd_writes_are_captured(tmp_path: Path) -> None:
    import io

    source = write_notebook(
        tmp_path / "in.ipynb", "import os\nos.system('echo from-fd')\nprint('py')", "1 / 0"
    )
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(PapermillExecutionError):
        run_mlops(source, tmp_path / "o.ipynb", stdout_file=stdout, stderr_file=stderr)
    nb = nbformat.read(str(tmp_path / "o.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "".join(o.text for o in code[0].outputs if o.output_type == "stream")
    assert sorted(text.splitlines()) == ["from-fd", "py"]
    assert sorted(stdout.getvalue().splitlines()) == ["from-fd", "py"]


def test_another_language_goes_to_the_stock_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_notebook(tmp_path / "in.ipynb", "print('stock')", language="not-python")
    with caplog.at_level(logging.WARNING, logger="jupyter_mlops.execute.engine"):
        out = run_mlops(source, tmp_path / "o.ipynb")
    assert out.cells[0].outputs[0].text == "stock\n"
    assert "language is not-python" in caplog.text


def test_the_cli_finds_the_engine(tmp_path: Path) -> None:
    import subprocess

    source = write_notebook(tmp_path / "in.ipynb", ("n = 1", ["parameters"]), "print(n * 2)")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "papermill", str(source), str(tmp_path / "o.ipynb")),
            *("--engine", "mlops", "-p", "n", "21", "--no-progress-bar"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(str(tmp_path / "o.ipynb"), as_version=4)
    assert nb.cells[-1].outputs[0].text == "42\n"


def test_output_of_processes_the_code_forks_is_kept(tmp_path: Path) -> None:
    source = write_notebook(
        tmp_path / "in.ipynb",
        "import multiprocessing as mp\ndef f(x):\n    print('in child', x)\n    return x * 2\n"
        "with mp.get_context('fork').Pool(2) as pool:\n    print(sorted(pool.map(f, range(3))))",
    )
    out = run_mlops(source, tmp_path / "o.ipynb", execution_timeout=20)
    lines = "".join(o.text for o in out.cells[0].outputs).splitlines()
    assert sorted(lines) == ["[0, 2, 4]", "in child 0", "in child 1", "in child 2"]


def test_a_changed_pythonpath_gives_runs_a_zygote_started_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a zygote already serving runs in this process
    source = write_notebook(tmp_path / "in.ipynb", "import sys\nprint(sys.path)")
    run_mlops(source, tmp_path / "first.ipynb")
    first = zygotes._zygote
    extra = tmp_path / "on-the-path"
    extra.mkdir()
    # When PYTHONPATH changes (as pytest-jupyter, or a user's shell, does)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(extra), os.environ.get("PYTHONPATH", "")])
    )
    out = run_mlops(source, tmp_path / "second.ipynb")
    # Then the run sees the new path, as a kernel started now would, from another zygote
    assert str(extra) in out.cells[0].outputs[0].text
    assert zygotes._zygote is not first
    monkeypatch.undo()
    assert str(extra) not in run_mlops(source, tmp_path / "third.ipynb").cells[0].outputs[0].text

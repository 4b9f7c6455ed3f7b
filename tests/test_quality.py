"""The codebase's own bar: ruff and mypy clean, the example notebook runs as published."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff comes with the test extra")
def test_ruff_finds_nothing() -> None:
    lint = _run("ruff", "check", "jupyter_mlops", "tests", "bench")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    style = _run("ruff", "format", "--check", "jupyter_mlops", "tests", "bench")
    assert style.returncode == 0, style.stdout + style.stderr


def test_mypy_strict_finds_nothing() -> None:
    check = _run(sys.executable, "-m", "mypy")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.kernel
def test_example_notebook_runs_top_to_bottom_in_a_kernel(tmp_path: Path) -> None:
    import papermill

    output = tmp_path / "churn-out.ipynb"
    papermill.execute_notebook(
        str(ROOT / "examples" / "churn.ipynb"),
        str(output),
        parameters={"n_customers": 500},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    assert "accuracy=" in output.read_text()


def _jlpm(*args: str) -> subprocess.CompletedProcess[str]:
    jlpm = shutil.which("jlpm")
    assert jlpm is not None, "jlpm comes with jupyterlab (a dependency)"
    if not (ROOT / "node_modules").is_dir():  # the wheel build installs them; else do it now
        installed = _run(jlpm, "install", "--immutable")
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return _run(jlpm, *args)


def test_the_typescript_is_strict_clean_and_formatted() -> None:
    types = _jlpm("tsc", "--noEmit")
    assert types.returncode == 0, types.stdout + types.stderr
    style = _jlpm("prettier:check")
    assert style.returncode == 0, style.stdout + style.stderr


def test_the_frontend_unit_tests_pass() -> None:
    tests = _jlpm("test")
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-3000:]
    assert "# fail 0" in tests.stdout
    assert "# pass 0" not in tests.stdout  # "no tests ran" must not pass

"""The browser suite (ui-tests/, galata + Playwright) as one pytest test.

It installs the suite's node packages if they are missing (``jlpm install --immutable``),
then runs ``jlpm playwright test`` in ui-tests/: Playwright starts a real JupyterLab with
this package's server and lab extensions on a free port and drives the system Chromium.
The test passes only if Playwright exits 0 and its JSON report counts at least one passed
test and no failed or flaky one.

Outside CI a machine without node, jlpm or Chromium skips it with the reason; with
``CI=true`` the same gaps fail, so the UI suite can never drop out of CI silently.
Select or deselect it with ``-m ui`` / ``-m "not ui"``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
UI_TESTS = REPO / "ui-tests"
LABEXTENSION = REPO / "jupyter_mlops" / "labextension" / "package.json"
CHROMIUM = os.environ.get("MLOPS_UI_CHROMIUM", "/usr/bin/chromium")
INSTALL_TIMEOUT = 15 * 60
SUITE_TIMEOUT = 40 * 60
SHOWN_LINES = 150
SERVER_LINES = 40

pytestmark = pytest.mark.ui


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """A prerequisite is absent: skip on a developer's machine, fail in CI."""
    if in_ci():
        pytest.fail(f"CI=true and the UI suite cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def jlpm() -> str | None:
    """The jlpm next to this interpreter (JupyterLab's pinned yarn), else the one on PATH."""
    beside = Path(sys.executable).parent / ("jlpm.exe" if os.name == "nt" else "jlpm")
    return str(beside) if beside.is_file() else shutil.which("jlpm")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def suite_env(results: Path) -> dict[str, str]:
    env = dict(os.environ)
    # `jlpm start` runs `jupyter lab`: the one of this environment, not another on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["MLOPS_UI_PORT"] = str(free_port())
    env["MLOPS_UI_CHROMIUM"] = CHROMIUM
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"  # never fetch a browser; use the system one
    env["MLOPS_UI_RESULTS"] = str(results)  # this run's own traces and report
    env.pop("MLOPS_UI_SCREENSHOTS", None)  # the test run must not rewrite docs/images
    return env


def tail(text: str, lines: int = SHOWN_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def explain(output: str, results: Path) -> str:
    """Playwright's own lines, then the end of the JupyterLab log (it prints [WebServer])."""
    lines = output.splitlines()
    server = [line for line in lines if line.startswith("[WebServer]")]
    ours = [line for line in lines if not line.startswith("[WebServer]")]
    return (
        "\n".join(ours[-SHOWN_LINES:])
        + f"\n--- last {SERVER_LINES} JupyterLab log lines ---\n"
        + "\n".join(server[-SERVER_LINES:])
        + f"\n--- traces and report: {results}"
    )


def counts(report: dict[str, Any]) -> dict[str, int]:
    stats = report.get("stats", {})
    return {key: int(stats.get(key, 0)) for key in ("expected", "unexpected", "flaky", "skipped")}


@pytest.mark.timeout(INSTALL_TIMEOUT + SUITE_TIMEOUT + 300)
def test_galata_suite(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        missing("node is not on PATH (the UI suite needs Node.js 20+)")
    runner = jlpm()
    if runner is None:
        missing("jlpm is not installed (it comes with jupyterlab)")
    if not Path(CHROMIUM).is_file():
        missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    # The lab extension is built by `pip install -e .`; without it every spec would fail
    # for the same reason, so say that reason once.
    assert LABEXTENSION.is_file(), (
        f"{LABEXTENSION.relative_to(REPO)} is missing: the lab extension is not built "
        '(pip install -e ".[all,test]" builds it)'
    )
    results = tmp_path / "playwright"
    report = results / "results.json"
    env = suite_env(results)

    if not (UI_TESTS / "node_modules" / "@jupyterlab" / "galata").is_dir():
        install = subprocess.run(
            [runner, "install", "--immutable"],
            cwd=UI_TESTS,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        assert install.returncode == 0, "jlpm install in ui-tests/ failed:\n" + tail(
            install.stdout + install.stderr
        )

    done = subprocess.run(
        [runner, "playwright", "test"],
        cwd=UI_TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert report.is_file(), f"Playwright wrote no report (exit {done.returncode}):\n" + explain(
        output, results
    )
    result = counts(json.loads(report.read_text(encoding="utf-8")))
    summary = (
        f"playwright exit {done.returncode}: {result['expected']} passed, "
        f"{result['unexpected']} failed, {result['flaky']} flaky, {result['skipped']} skipped"
    )
    print(summary)
    failed = done.returncode != 0 or result["unexpected"] > 0 or result["flaky"] > 0
    assert not failed, summary + "\n" + explain(output, results)
    assert result["expected"] > 0, summary + " — no UI test passed\n" + explain(output, results)

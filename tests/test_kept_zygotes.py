"""Zygotes kept warm between CLI commands (``c.MLOps.keep_warm``).

Real ``jupyter-mlops`` processes, one after the other or at once, on a real SQLite store; the
kept zygote is a real detached process on a real Unix socket. Each notebook reports the pid
of the process its run was forked from (``os.getppid()``) as a metric, so a test can tell
which zygote served which command. What must hold: the next command forks from the same
zygote; nothing one command's run does is seen by the next; each run gets its own command's
environment and folder; a changed import path, a stale socket or a killed command are
handled; the zygote idles out, and ``zygotes --stop`` ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook

pytestmark = pytest.mark.kernel

SETUP = "import os\nimport numpy as np"
MARK = (
    "seen = float(getattr(np, '_mlops_mark', 0))\n"
    "np._mlops_mark = 1\n"
    "parent = float(os.getppid())\n"
    "colour = float(len(os.environ.get('COLOUR', '')))\n"
    "here = float(len(os.getcwd()))"
)


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A private folder of sockets for this test only (short: a socket path has 108 bytes);
    whatever zygote is left there is stopped, then killed."""
    folder = Path(tempfile.mkdtemp(prefix="mlz-", dir="/tmp"))
    yield folder
    _cli(folder, folder, "zygotes", "--stop", "--json", check=False)
    for pid in _kept_pids(folder):
        _wait_gone(pid, 5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def _env(runtime: Path, keep: str = "60", **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(JUPYTER_MLOPS_KEEP_WARM=keep, JUPYTER_MLOPS_RUNTIME_DIR=str(runtime), **extra)
    return env


def _cli(
    runtime: Path, cwd: Path, *words: str, check: bool = True, keep: str = "60", **extra: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", *words],
        cwd=cwd,
        env=_env(runtime, keep, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _project(folder: Path, *cells: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cells = cells or ((MARK, ["mlops:fn:mark", "mlops:metrics"]),)
    notebook = make_notebook((SETUP, "mlops:setup"), *cells)
    (folder / "nb.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return folder


def _metrics(runtime: Path, project: Path, **extra: str) -> dict[str, float]:
    done = _cli(runtime, project, "run", "nb.ipynb", "--json", **extra)
    return dict(json.loads(done.stdout)["metrics"])


def _kept(runtime: Path) -> list[dict[str, Any]]:
    done = _cli(runtime, runtime, "zygotes", "--json")
    return list(json.loads(done.stdout)["zygotes"])


def _kept_pids(runtime: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"jupyter_mlops.execute.kept_zygote" in command and any(
            str(runtime).encode() in part for part in command
        ):
            pids.append(int(entry.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, seconds: float) -> bool:
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def test_the_next_command_forks_from_the_same_zygote_and_sees_nothing_of_the_last(
    runtime: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "a")
    first = _metrics(runtime, project, COLOUR="red", PWD="/one", SHLVL="1")
    second = _metrics(runtime, project, COLOUR="red", PWD="/two", SHLVL="2")
    assert first["parent"] == second["parent"]  # one zygote served both commands
    assert first["seen"] == second["seen"] == 0  # the first run's mark died with its fork
    assert first["colour"] == second["colour"] == 3
    [kept] = _kept(runtime)
    assert kept["pid"] == int(first["parent"])
    assert "numpy" in kept["modules"]
    assert kept["memory"] > 0
    assert kept["runs"] == 0


def test_another_environment_is_another_zygote_since_imports_may_read_it(
    runtime: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "a2")
    red = _metrics(runtime, project, COLOUR="red")
    green = _metrics(runtime, project, COLOUR="green!")
    assert red["parent"] != green["parent"]
    assert (red["colour"], green["colour"]) == (3, 6)
    assert len(_kept(runtime)) == 2


def test_each_command_runs_in_its_own_project_folder(runtime: Path, tmp_path: Path) -> None:
    short = _project(tmp_path / "b")
    longer = _project(tmp_path / "a-much-longer-folder-name")
    one = _metrics(runtime, short)
    two = _metrics(runtime, longer)
    assert one["parent"] == two["parent"]
    assert (one["here"], two["here"]) == (len(str(short)), len(str(longer)))


def test_a_changed_import_path_gets_a_fresh_zygote(runtime: Path, tmp_path: Path) -> None:
    """`pip install` adds a folder to site-packages; a new file in a folder on the import
    path changes its modification time just as well."""
    project = _project(tmp_path / "c")
    site = tmp_path / "site"
    site.mkdir()
    first = _metrics(runtime, project, PYTHONPATH=str(site))
    again = _metrics(runtime, project, PYTHONPATH=str(site))
    (site / "newly_installed.py").write_text("VALUE = 1\n")
    after = _metrics(runtime, project, PYTHONPATH=str(site))
    assert first["parent"] == again["parent"]
    assert after["parent"] != first["parent"]


def test_a_killed_zygote_leaves_a_stale_socket_and_the_next_command_starts_another(
    runtime: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "d")
    first = _metrics(runtime, project)
    os.kill(int(first["parent"]), signal.SIGKILL)
    assert _wait_gone(int(first["parent"]), 10)
    assert list(runtime.glob("*.sock"))  # left behind by the killed zygote
    second = _metrics(runtime, project)
    assert second["parent"] != first["parent"]


def test_a_command_killed_mid_run_takes_its_run_with_it_and_the_zygote_lives_on(
    runtime: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "run.pid"
    project = _project(
        tmp_path / "e",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)",
    )
    command = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops.cli", "run", "nb.ipynb"],
        cwd=project,
        env=_env(runtime),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    give_up = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < give_up, "the run never started"
        time.sleep(0.1)
    run_pid = int(pid_file.read_text())
    command.kill()
    command.wait(10)
    assert _wait_gone(run_pid, 10), "the killed command's run lived on"
    [kept] = _kept(runtime)
    assert kept["runs"] == 0
    assert _alive(kept["pid"])


def test_the_zygote_idles_out(runtime: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "f")
    done = _cli(runtime, project, "run", "nb.ipynb", "--json", keep="1")
    metrics = json.loads(done.stdout)["metrics"]
    assert _wait_gone(int(metrics["parent"]), 15)
    assert not list(runtime.glob("*.sock"))


def test_zygotes_stop_ends_them_and_keep_warm_zero_keeps_none(
    runtime: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "g")
    metrics = _metrics(runtime, project)
    done = _cli(runtime, runtime, "zygotes", "--stop")
    assert f"pid {int(metrics['parent'])}" in done.stdout
    assert _wait_gone(int(metrics["parent"]), 10)
    assert _cli(runtime, runtime, "zygotes").stdout.strip() == "no kept zygote"
    done = _cli(runtime, project, "run", "nb.ipynb", "--json", keep="0")
    # keep_warm 0: the command's own zygote ended with it
    assert not _alive(int(json.loads(done.stdout)["metrics"]["parent"]))
    assert not list(runtime.glob("*.sock"))


def test_two_commands_at_once_share_one_new_zygote(runtime: Path, tmp_path: Path) -> None:
    projects = [_project(tmp_path / name) for name in ("h1", "h2")]
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "jupyter_mlops.cli", "run", "nb.ipynb", "--json"],
            cwd=project,
            env=_env(runtime),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for project in projects
    ]
    parents = set()
    for command in commands:
        out, err = command.communicate(timeout=300)
        assert command.returncode == 0, err
        parents.add(json.loads(out)["metrics"]["parent"])
    assert len(parents) == 1
    assert len(_kept(runtime)) == 1


def test_a_folder_others_can_read_is_refused_and_the_command_still_runs(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mlz-open-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        project = _project(tmp_path / "i")
        done = _cli(folder, project, "run", "nb.ipynb", "--json")
        assert "not a private folder" in done.stderr
        parent = int(json.loads(done.stdout)["metrics"]["parent"])
        assert not _alive(parent)
        assert not list(folder.glob("*.sock"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""``run`` and ``sweep`` forked from a warm command host (``cli_host``, ``cli_client``).

Real processes only: the thin client (``cli_client.main``, as the ``jupyter-mlops`` console
script calls it), the detached host on a real Unix socket in a fresh private folder per
test, the kept zygote and kernels the commands' runs use, a real SQLite store. What must
hold: the next command is served by the same host; exit codes, stdout and stderr are those
of the same command run in its own process; each command gets its own environment and
folder; Ctrl-C cancels the run as it does in-process; a killed client takes its command
with it; the host idles out, and a changed package is another host.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
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

from jupyter_mlops import cli_client
from jupyter_mlops.project import DEFAULT_KEEP_WARM

pytestmark = pytest.mark.kernel

WORKTREE = Path(__file__).resolve().parents[1]
CLIENT = "import sys; from jupyter_mlops.cli_client import main; sys.exit(main())"
MARK = (
    "import os\ncolour = float(len(os.environ.get('COLOUR', '')))\nhere = float(len(os.getcwd()))"
)


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A private folder of sockets for this test only (short: a socket path has 108 bytes);
    whatever host or zygote is left there is stopped, then killed."""
    folder = Path(tempfile.mkdtemp(prefix="mlh-", dir="/tmp"))
    yield folder
    for path in folder.glob("cli-*.host"):
        cli_client.ask(str(path), "stop")
    subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "zygotes", "--stop"],
        env=_env(folder),
        capture_output=True,
        timeout=60,
        check=False,
    )
    for pid in _pids_of(folder, b"jupyter_mlops.cli_host", b"jupyter_mlops.execute.kept_zygote"):
        _wait_gone(pid, 5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def _env(runtime: Path, keep: str | None = "60", **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JUPYTER_MLOPS_KEEP_WARM", None)
    if keep is not None:
        env["JUPYTER_MLOPS_KEEP_WARM"] = keep
    env.update(JUPYTER_MLOPS_RUNTIME_DIR=str(runtime), **extra)
    env.setdefault("PYTHONPATH", str(WORKTREE))
    return env


def _command(in_process: bool = False) -> list[str]:
    if in_process:
        return [sys.executable, "-m", "jupyter_mlops.cli"]
    return [sys.executable, "-c", CLIENT]


def _cli(
    runtime: Path,
    cwd: Path,
    *words: str,
    in_process: bool = False,
    keep: str | None = "60",
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_command(in_process), *words],
        cwd=cwd,
        env=_env(runtime, keep, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _project(folder: Path, *cells: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cells = cells or ((MARK, ["mlops:fn:mark", "mlops:metrics"]),)
    notebook = make_notebook(("x = 1", "parameters"), *cells)
    (folder / "nb.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return folder


def _hosts(runtime: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(runtime.glob("cli-*.host")):
        answer = cli_client.ask(str(path), "status")
        if answer is not None:
            found.append(answer)
    return found


def _pids_of(runtime: Path, *modules: bytes) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(m in command for m in modules) and any(str(runtime).encode() in p for p in command):
            pids.append(int(entry.name))
    return pids


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


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


def _wait_for_file(path: Path, seconds: float = 120) -> str:
    give_up = time.monotonic() + seconds
    while not path.exists() or not path.read_text():
        assert time.monotonic() < give_up, f"{path} never written"
        time.sleep(0.1)
    return path.read_text()


def _sleeper(folder: Path, pid_file: Path) -> Path:
    return _project(
        folder,
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)",
    )


def _last_run(runtime: Path, project: Path) -> dict[str, Any]:
    done = _cli(runtime, project, "runs", "--limit", "1", "--json", in_process=True, keep="0")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)["runs"][0])


def _masked(text: str) -> str:
    """A report without what differs between two runs: ids, durations, sizes."""
    return re.sub(r"[0-9a-f]{12,}|\d+(\.\d+)?", "#", text)


def test_the_default_idle_is_the_projects_keep_warm() -> None:
    assert cli_client.DEFAULT_IDLE == DEFAULT_KEEP_WARM


def test_the_next_command_is_served_by_the_same_host_with_its_own_env_and_folder(
    runtime: Path, tmp_path: Path
) -> None:
    short = _project(tmp_path / "a")
    longer = _project(tmp_path / "a-much-longer-folder-name")
    first = _cli(runtime, short, "run", "nb.ipynb", "--json", COLOUR="red")
    assert first.returncode == 0, first.stderr
    [host] = _hosts(runtime)
    second = _cli(runtime, longer, "run", "nb.ipynb", "--json", COLOUR="green!")
    assert second.returncode == 0, second.stderr
    assert [h["pid"] for h in _hosts(runtime)] == [host["pid"]]
    one, two = (json.loads(done.stdout)["metrics"] for done in (first, second))
    assert (one["colour"], two["colour"]) == (3, 6)
    assert (one["here"], two["here"]) == (len(str(short)), len(str(longer)))


def test_the_command_is_a_child_of_the_host_with_the_clients_folder_and_limits(
    runtime: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "run.pid"
    project = _sleeper(tmp_path / "b", pid_file)
    started = _cli(runtime, _project(tmp_path / "b0"), "run", "nb.ipynb")  # the host's limits
    assert started.returncode == 0, started.stderr
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    client = subprocess.Popen(
        [*_command(), "run", "nb.ipynb"],
        cwd=project,
        env=_env(runtime),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (777, hard)),
    )
    try:
        _wait_for_file(pid_file)
        [host] = _hosts(runtime)
        assert host["commands"] == 1
        [command] = _children(host["pid"])
        assert command != client.pid
        assert os.readlink(f"/proc/{command}/cwd") == str(project)
        assert resource.prlimit(command, resource.RLIMIT_NOFILE) == (777, hard)  # its ulimit
        assert resource.prlimit(host["pid"], resource.RLIMIT_NOFILE)[0] != 777
    finally:
        client.kill()
        client.wait(10)


def test_exit_codes_stdout_and_stderr_are_those_of_the_command_in_its_own_process(
    runtime: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "c")
    failing = _project(tmp_path / "d", ("raise ValueError('broken on purpose')", []))
    cases = [
        (project, ("run", "nb.ipynb", "--json")),
        (project, ("run", "nb.ipynb", "-p", "nope=1")),
        (project, ("run", "nb.ipynb", "-p", "nope=1", "--json")),
        (failing, ("run", "nb.ipynb")),
        (project, ("sweep", "nb.ipynb", "-p", "x=1,2", "--json")),
    ]
    for folder, words in cases:
        hosted = _cli(runtime, folder, *words)
        alone = _cli(runtime, folder, *words, in_process=True)
        assert hosted.returncode == alone.returncode, (words, hosted.stderr)
        if "--json" in words and hosted.stdout:
            assert json.loads(hosted.stdout).keys() == json.loads(alone.stdout).keys()
        else:
            assert _masked(hosted.stdout) == _masked(alone.stdout)
        assert hosted.stderr == alone.stderr, words
    assert len(_hosts(runtime)) == 1
    bad = _cli(runtime, project, "run", "nb.ipynb", "-p", "nope=1")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: nb.ipynb: unknown parameter 'nope'")
    assert len(bad.stderr.splitlines()) == 1
    assert _cli(runtime, failing, "run", "nb.ipynb").returncode == 1


def test_ctrl_c_cancels_the_run_as_in_process(runtime: Path, tmp_path: Path) -> None:
    statuses = {}
    for in_process in (False, True):
        pid_file = tmp_path / f"run-{in_process}.pid"
        project = _sleeper(tmp_path / f"e-{in_process}", pid_file)
        client = subprocess.Popen(
            [*_command(in_process), "run", "nb.ipynb"],
            cwd=project,
            env=_env(runtime),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        run_pid = int(_wait_for_file(pid_file))
        client.send_signal(signal.SIGINT)
        _out, err = client.communicate(timeout=60)
        assert client.returncode != 0, err
        assert _wait_gone(run_pid, 10), "the cancelled run lived on"
        statuses[in_process] = (client.returncode, _last_run(runtime, project)["status"])
    assert statuses[False] == statuses[True]
    assert statuses[False][1] == "cancelled"
    [host] = _hosts(runtime)
    assert host["commands"] == 0


def test_a_killed_client_takes_its_command_and_run_with_it(runtime: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "run.pid"
    project = _sleeper(tmp_path / "f", pid_file)
    client = subprocess.Popen(
        [*_command(), "run", "nb.ipynb"],
        cwd=project,
        env=_env(runtime),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_pid = int(_wait_for_file(pid_file))
    [host] = _hosts(runtime)
    [command] = _children(host["pid"])
    client.kill()
    client.wait(10)
    assert _wait_gone(command, 15), "the command outlived its client"
    assert _wait_gone(run_pid, 10), "the run outlived its command"
    assert _last_run(runtime, project)["status"] == "cancelled"  # interrupted, not killed
    [after] = _hosts(runtime)
    assert after["pid"] == host["pid"]
    assert after["commands"] == 0


def test_the_host_idles_out(runtime: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "g")
    done = _cli(runtime, project, "run", "nb.ipynb", keep="2")
    assert done.returncode == 0, done.stderr
    [pid] = _pids_of(runtime, b"jupyter_mlops.cli_host")
    assert _wait_gone(pid, 30)
    assert not list(runtime.glob("cli-*.host"))


def test_a_changed_package_file_is_another_host(runtime: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(
        WORKTREE / "jupyter_mlops",
        site / "jupyter_mlops",
        ignore=shutil.ignore_patterns("__pycache__", "labextension", "static"),
    )
    project = _project(tmp_path / "h")
    for _ in range(2):
        done = _cli(runtime, project, "run", "nb.ipynb", PYTHONPATH=str(site))
        assert done.returncode == 0, done.stderr
    [first] = _hosts(runtime)
    edited = site / "jupyter_mlops" / "reports.py"
    edited.write_text(edited.read_text() + "\n# edited\n")
    done = _cli(runtime, project, "run", "nb.ipynb", PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    pids = {h["pid"] for h in _hosts(runtime)}
    assert len(pids) == 2
    assert first["pid"] in pids


def test_a_project_that_keeps_nothing_warm_stops_the_host_and_runs_in_process(
    runtime: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "i")
    config = project / "jupyter_mlops_config.json"
    config.write_text(json.dumps({"MLOps": {"keep_warm": 0}}))
    done = _cli(runtime, project, "run", "nb.ipynb", keep=None)
    assert done.returncode == 0, done.stderr
    assert not list(runtime.glob("cli-*.host"))
    done = _cli(runtime, project, "run", "nb.ipynb", keep=None)
    assert done.returncode == 0, done.stderr
    assert not _pids_of(runtime, b"jupyter_mlops.cli_host")  # none started again
    config.write_text(json.dumps({"MLOps": {"keep_warm": 30}}))
    for _ in range(2):  # the first runs here and finds it on; the next starts a host
        done = _cli(runtime, project, "run", "nb.ipynb", keep=None)
        assert done.returncode == 0, done.stderr
    [host] = _hosts(runtime)
    assert host["idle_limit"] == 30


def test_a_folder_others_can_read_is_refused_and_the_command_runs_in_process(
    tmp_path: Path,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mlh-open-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        project = _project(tmp_path / "j")
        done = _cli(folder, project, "run", "nb.ipynb", "--json")
        assert done.returncode == 0, done.stderr
        assert "not a private folder" in done.stderr.splitlines()[0]
        assert json.loads(done.stdout)["status"] == "succeeded"
        assert not list(folder.glob("cli-*"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_host_leaves_a_stale_socket_and_the_next_command_starts_another(
    runtime: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path / "k")
    assert _cli(runtime, project, "run", "nb.ipynb").returncode == 0
    [host] = _hosts(runtime)
    os.kill(host["pid"], signal.SIGKILL)
    assert _wait_gone(host["pid"], 10)
    assert list(runtime.glob("cli-*.host"))  # left behind by the killed host
    done = _cli(runtime, project, "run", "nb.ipynb", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    [after] = _hosts(runtime)
    assert after["pid"] != host["pid"]


def test_zygotes_lists_the_host_and_stop_ends_it(runtime: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "l")
    assert _cli(runtime, project, "run", "nb.ipynb").returncode == 0
    [host] = _hosts(runtime)
    listed = _cli(runtime, project, "zygotes", "--json", in_process=True)
    assert [h["pid"] for h in json.loads(listed.stdout)["hosts"]] == [host["pid"]]
    assert json.loads(listed.stdout)["hosts"][0]["memory"] > 0
    stopped = _cli(runtime, project, "zygotes", "--stop", in_process=True)
    assert f"pid {host['pid']}" in stopped.stdout
    assert "(command host)" in stopped.stdout
    assert _wait_gone(host["pid"], 10)
    assert not list(runtime.glob("cli-*.host"))


def test_the_client_imports_none_of_what_the_host_holds(runtime: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "m")
    code = (
        "import json, sys\n"
        "from jupyter_mlops.cli_client import main\n"
        "for _ in range(2):\n"
        "    code = main(['run', 'nb.ipynb', '--json'])\n"
        "heavy = ('jupyter_mlops.cli', 'jupyter_mlops.execute.kept', 'papermill', 'nbformat',\n"
        "         'sqlalchemy', 'traitlets', 'jupyter_client', 'subprocess')\n"
        "print(json.dumps({'code': code, 'loaded': [m for m in heavy if m in sys.modules]}),\n"
        "      file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=_env(runtime),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": ["subprocess"]}  # subprocess: it started the host
    assert len(_hosts(runtime)) == 1


def test_a_host_whose_imports_started_a_thread_refuses_and_the_commands_run_here(
    runtime: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys, threading, time\n"
        "def sleeper():\n"
        "    thread = threading.Thread(target=time.sleep, args=(600,), name='sleeper')\n"
        "    thread.daemon = True\n"
        "    thread.start()\n"
        "if 'jupyter_mlops.cli_host' in sys.orig_argv:  # in the host, once it detached\n"
        "    os.register_at_fork(after_in_child=sleeper)\n"
    )
    project = _project(tmp_path / "n")
    path = f"{site}{os.pathsep}{WORKTREE}"
    for colour in ("red", "green!"):
        done = _cli(runtime, project, "run", "nb.ipynb", "--json", PYTHONPATH=path, COLOUR=colour)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert json.loads(done.stdout)["metrics"]["colour"] == len(colour)
    [host] = _hosts(runtime)  # started once, not again by the second command
    assert host["threads"] == ["sleeper"]
    assert host["commands"] == 0


def test_a_host_killed_mid_command_leaves_the_client_waiting_for_its_command(
    runtime: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "run.pid"
    project = _project(
        tmp_path / "o",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(4)",
    )
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:  # files: the command holds them too
        client = subprocess.Popen(
            [*_command(), "run", "nb.ipynb"],
            cwd=project,
            env=_env(runtime),
            stdout=stdout,
            stderr=stderr,
        )
    _wait_for_file(pid_file)
    [host] = _hosts(runtime)
    os.kill(host["pid"], signal.SIGKILL)
    assert client.wait(120) == 1
    assert _last_run(runtime, project)["status"] == "succeeded"  # the client waited for it
    assert "succeeded" in out.read_text()
    assert err.read_text().strip().splitlines()[-1] == (
        "error: the command host went away; the command's exit code is unknown"
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_left_command_deaf_to_its_interrupt_is_killed_and_the_host_waits_idle(
    runtime: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "run.pid"
    project = _sleeper(tmp_path / "p", pid_file)
    client = subprocess.Popen(
        [*_command(), "run", "nb.ipynb"],
        cwd=project,
        env=_env(runtime),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_pid = int(_wait_for_file(pid_file))
    [host] = _hosts(runtime)
    [command] = _children(host["pid"])
    os.kill(command, signal.SIGSTOP)  # it cannot act on the SIGINT the host sends it
    cpu = _cpu_seconds(host["pid"])
    client.kill()
    client.wait(10)
    assert _wait_gone(command, 30), "the command was not killed"
    assert _cpu_seconds(host["pid"]) - cpu < 1.0  # the 5 s were spent waiting, not polling
    assert _wait_gone(run_pid, 10), "the run outlived its command"
    [after] = _hosts(runtime)
    assert after["commands"] == 0


def test_which_commands_go_through_the_host(runtime: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "q")
    helped = _cli(runtime, tmp_path, "run", "--help")
    assert helped.returncode == 0
    assert "usage:" in helped.stdout
    for keep in ("0.0", "-1"):
        done = _cli(runtime, tmp_path, "--root", str(project), "run", "nb.ipynb", keep=keep)
        assert done.returncode == 0, done.stderr
    assert _cli(runtime, project, "runs", "--json").returncode == 0
    assert not _pids_of(runtime, b"jupyter_mlops.cli_host")  # none of those started one
    done = _cli(runtime, tmp_path, "--root", str(project), "run", "nb.ipynb")
    assert done.returncode == 0, done.stderr
    assert len(_hosts(runtime)) == 1

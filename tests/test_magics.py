"""``%mlops`` in a real kernel: the installed ipykernel, driven through jupyter_client.

One kernel serves the tests that share the example project (started in its folder, with no
Jupyter session, so the notebook is named with ``--notebook``); the discovery test starts its
own kernel the way jupyter_server does, with ``JPY_SESSION_NAME`` set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE, make_notebook

from jupyter_mlops.cli import build_parser as cli_parser
from jupyter_mlops.cli import main
from jupyter_mlops.kernel_session import jupyter_server_root, kernel_notebook
from jupyter_mlops.magic_grammar import build_parser

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@dataclass
class Executed:
    """What one execute_request produced, in the order it arrived."""

    reply: dict[str, Any]
    replied_at: float
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def of_type(self, *kinds: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m["msg_type"] in kinds]

    def stream(self, name: str) -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name
        )

    @property
    def result(self) -> dict[str, Any]:
        (result,) = self.of_type("execute_result")
        data: dict[str, Any] = result["content"]["data"]
        return data

    def comm_updates(self, key: str) -> list[tuple[float, Any]]:
        """(arrival time, value) of every widget state update that sets ``key``."""
        found = []
        for moment, message in self.messages:
            if message["msg_type"] == "comm_msg":
                state = message["content"]["data"].get("state", {})
                if key in state:
                    found.append((moment, state[key]))
        return found


class Kernel:
    """A started kernel and a blocking client; ``execute`` collects what the code published."""

    def __init__(self, client: Any, manager: Any = None) -> None:
        self.client = client
        self.manager = manager

    @classmethod
    def start(cls, cwd: Path, env: dict[str, str]) -> Kernel:
        from jupyter_client.manager import start_new_kernel

        manager, client = start_new_kernel(
            kernel_name="python3", cwd=str(cwd), env=env, startup_timeout=60
        )
        return cls(client, manager)

    def execute(self, code: str, timeout: float = 120) -> Executed:
        return self.collect(self.client.execute(code), timeout)

    def collect(self, msg_id: str, timeout: float = 120) -> Executed:
        messages: list[tuple[float, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 1))
            if message["msg_type"].startswith("comm_") or (
                message["parent_header"].get("msg_id") == msg_id
            ):
                messages.append((time.monotonic(), message))
            idle = message["msg_type"] == "status" and message["content"]["execution_state"]
            if idle == "idle" and message["parent_header"].get("msg_id") == msg_id:
                break
        while True:
            reply = self.client.get_shell_msg(timeout=max(deadline - time.monotonic(), 1))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        replied_at = max(moment for moment, m in messages if m["msg_type"] == "status")
        return Executed(reply["content"], replied_at, messages)

    def ok(self, code: str) -> Executed:
        done = self.execute(code)
        assert done.reply["status"] == "ok", (done.reply, done.stream("stderr"))
        return done

    def stop(self) -> None:
        self.client.stop_channels()
        if self.manager is not None:
            self.manager.shutdown_kernel(now=True)


def _kernel_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"JPY_SESSION_NAME", "MPLBACKEND"}}
    return {**env, **extra}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("magics")
    shutil.copy(EXAMPLE, root / "churn.ipynb")
    return root


@pytest.fixture(scope="module")
def kernel(project: Path) -> Iterator[Kernel]:
    started = Kernel.start(project, _kernel_env())
    try:
        started.ok("%load_ext jupyter_mlops")
        yield started
    finally:
        started.stop()


def _stored_runs(project: Path) -> list[dict[str, Any]]:
    """The runs as the CLI lists them from the same project root."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--root", str(project), "runs", "--limit", "500", "--json"]) == 0
    runs: list[dict[str, Any]] = json.loads(out.getvalue())["runs"]
    return runs


@pytest.mark.kernel
def test_inspect_shows_the_functions_as_a_widget_with_text(kernel):
    data = kernel.ok("%mlops inspect --notebook churn.ipynb").result
    for name in ("load_data", "prepare", "train", "evaluate"):
        assert name in data["text/plain"]
        assert name in data["text/html"]
    assert "Functions (in run order)" in data["text/plain"]
    assert WIDGET_VIEW in data
    plan = kernel.ok(
        "plan = %mlops inspect --notebook churn.ipynb\nprint([f.name for f in plan.functions])"
    )
    names = "['load_data', 'prepare', 'train', 'evaluate', 'predict']"
    assert plan.stream("stdout").strip() == names


@pytest.mark.kernel
def test_sweep_of_two_by_two_on_two_workers_records_four_runs_and_the_best(kernel, project):
    done = kernel.ok(
        "s = %mlops sweep --notebook churn.ipynb -p C=0.1,1 -p max_iter 50,300 "
        "-p n_customers=400 --parallel 2 --select max:accuracy\n"
        "print(s.sweep.id, len(s.runs), s.best.id)"
    )
    sweep_id, count, best_id = done.stream("stdout").split()
    assert count == "4"
    mine = [run for run in _stored_runs(project) if run["sweep_id"] == sweep_id]
    assert len(mine) == 4
    assert {(r["parameters"]["C"], r["parameters"]["max_iter"]) for r in mine} == {
        (0.1, 50),
        (0.1, 300),
        (1.0, 50),
        (1.0, 300),
    }
    assert all(run["status"] == "succeeded" for run in mine)
    accuracy = {run["id"]: run["metrics"]["accuracy"] for run in mine}
    assert accuracy[best_id] == max(accuracy.values())

    # Progress from the sweep's worker threads reached the frontend while the cell ran.
    values = [(moment, v) for moment, v in done.comm_updates("value") if isinstance(v, int)]
    assert [v for _, v in values][-1] == 4
    first = min(moment for moment, v in values if v >= 1)
    assert first < done.replied_at - 0.2, "progress arrived only when the cell had finished"
    (final,) = done.of_type("update_display_data")
    assert "4 runs" in final["content"]["data"]["text/plain"]
    assert "best accuracy" in final["content"]["data"]["text/plain"]

    table = kernel.ok("s").result["text/plain"]
    (starred,) = [row for row in table.splitlines() if row.startswith("*") and "best" not in row]
    assert best_id[:12] in starred
    assert "* best run" in table


@pytest.mark.kernel
def test_run_records_a_succeeded_run_and_shows_its_progress(kernel, project):
    done = kernel.ok(
        "r = %mlops run train -p C=0.5 --notebook churn.ipynb\nprint(r.id, r.status, r.function)"
    )
    run_id, status, function = done.stream("stdout").split()
    assert (status, function) == ("succeeded", "train")

    # The progress bar: a widget whose text/plain is a bar, updated while the run ran and
    # finally re-published with the result in its text form.
    (shown,) = done.of_type("display_data")
    assert WIDGET_VIEW in shown["content"]["data"]
    assert shown["content"]["data"]["text/plain"].startswith("[---")
    labels = done.comm_updates("value")
    assert any("running" in str(value) for _, value in labels)
    assert all(moment <= done.replied_at for moment, _ in labels)
    (final,) = done.of_type("update_display_data")
    assert f"run {run_id[:12]} succeeded" in final["content"]["data"]["text/plain"]
    assert (
        final["content"]["transient"]["display_id"] == shown["content"]["transient"]["display_id"]
    )

    (recorded,) = [run for run in _stored_runs(project) if run["id"] == run_id]
    assert recorded["status"] == "succeeded"
    assert recorded["parameters"]["C"] == 0.5

    shown_again = kernel.ok("r").result
    assert f"run {run_id}  succeeded" in shown_again["text/plain"]
    assert "C=0.5" in shown_again["text/plain"]
    assert WIDGET_VIEW in shown_again


@pytest.mark.kernel
def test_a_whole_notebook_run_forks_from_a_generation_that_imported_its_modules(kernel):
    """Warm imports reach %mlops too: the kernel's engine keeps a generation of its zygote
    that imported what churn.ipynb imports, and both runs forked from that one process."""
    code = (
        "import json\n"
        "from jupyter_mlops.execute.zygotes import zygote_status\n"
        "a = %mlops run --notebook churn.ipynb -p n_customers=300\n"
        "b = %mlops run --notebook churn.ipynb -p n_customers=301\n"
        "warm = [z for z in zygote_status() if 'numpy' in z['modules']]\n"
        "print(json.dumps([a.status, b.status, [z['modules'] for z in warm]]))"
    )
    statuses_a, status_b, generations = json.loads(kernel.ok(code).stream("stdout"))
    assert statuses_a == status_b == "succeeded"
    assert len(generations) == 1  # one generation served both runs
    assert {"numpy", "pandas", "sklearn.linear_model"} <= set(generations[0])


@pytest.mark.kernel
def test_interrupting_the_kernel_cancels_the_run_and_returns_it(kernel, project):
    slow = make_notebook(("import time\ntime.sleep(60)", "mlops:fn:wait"))
    (project / "slow.ipynb").write_text(json.dumps(slow))
    msg_id = kernel.client.execute("r = %mlops run wait --notebook slow.ipynb\nprint(r.status)")
    deadline = time.monotonic() + 60
    while not any(
        run["notebook"] == "slow.ipynb" and run["status"] == "running"
        for run in _stored_runs(project)
    ):
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.2)
    kernel.manager.interrupt_kernel()
    done = kernel.collect(msg_id, timeout=60)
    assert done.reply["status"] == "ok", "\n".join(done.reply.get("traceback", []))
    assert done.stream("stdout").strip() == "cancelled"
    (recorded,) = [run for run in _stored_runs(project) if run["notebook"] == "slow.ipynb"]
    assert recorded["status"] == "cancelled"


@pytest.mark.kernel
def test_runs_versions_tag_and_diff(kernel, project):
    kernel.ok("%mlops run train -p C=0.25 --notebook churn.ipynb")
    runs = kernel.ok("%mlops runs --function train --notebook churn.ipynb").result
    assert "train" in runs["text/plain"]
    assert "succeeded" in runs["text/plain"]
    listed = kernel.ok("rs = %mlops runs --limit 3 --all\nprint(type(rs).__name__, len(rs))")
    assert listed.stream("stdout").split() == ["RunList", "3"]

    first = kernel.ok("v = %mlops versions train\nprint(v[0].version)").stream("stdout").strip()
    tagged = kernel.ok(f"%mlops tag train {first[:12]} production").result
    assert "production" in tagged["text/plain"]
    assert "[production]" in kernel.ok("%mlops versions train").result["text/plain"]

    # Given a changed train cell, saved, and run again: a second version to compare.
    notebook = json.loads((project / "churn.ipynb").read_text())
    (cell,) = [c for c in notebook["cells"] if "mlops:fn:train" in c["metadata"].get("tags", [])]
    cell["source"] = "".join(cell["source"]).replace("max_iter=max_iter", "max_iter=max_iter + 1")
    (project / "churn.ipynb").write_text(json.dumps(notebook))
    second = kernel.ok("r2 = %mlops run train --notebook churn.ipynb\nprint(r2.version)")
    newer = second.stream("stdout").strip()
    assert newer != first

    diff = kernel.ok(f"%mlops diff train production {newer[:12]}").result
    assert "+model = LogisticRegression(C=C, max_iter=max_iter + 1)" in diff["text/plain"]
    assert "-model = LogisticRegression(C=C, max_iter=max_iter)" in diff["text/plain"]
    assert WIDGET_VIEW in diff


def test_promote_through_a_gate_and_the_events_it_left(kernel, project):
    kernel.ok("%mlops run train -p C=0.5 --notebook churn.ipynb")
    promoted = kernel.ok("%mlops promote train --to candidate --notebook churn.ipynb").result
    assert "promoted: train@candidate -> run" in promoted["text/plain"]
    # the same run against itself: a strict gate fails, names the clause, moves nothing
    failed = kernel.execute(
        '%mlops promote train --to candidate --gate "accuracy > candidate" --notebook churn.ipynb'
    )
    assert failed.reply["status"] == "error"
    assert failed.reply["ename"] == "UsageError"
    assert "FAILED" in failed.reply["evalue"]
    assert "not promoted" in failed.reply["evalue"]
    timeline = kernel.ok("%mlops events train").result["text/plain"]
    assert [line.split()[2] for line in timeline.splitlines()][-3:] == ["gate", "promote", "gate"]
    assert kernel.ok("%mlops watch --notebook churn.ipynb").result["text/plain"] == ""
    checked = kernel.ok(
        '%mlops ci --gate "accuracy >= 0.5" -p n_customers=300 '
        "--against candidate --notebook churn.ipynb"
    ).result["text/plain"]
    assert "passed" in checked.splitlines()[0]
    assert "n_customers=300" in checked


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("run train -p Z=1 --notebook churn.ipynb", "unknown parameter 'Z'"),
        ("run train -p C=abc --notebook churn.ipynb", "parameter 'C'"),
        ("sweep train -p C=0.1,abc --notebook churn.ipynb", "parameter 'C'"),
        ("run nope --notebook churn.ipynb", "no function 'nope'"),
        ("frobnicate", "invalid choice: 'frobnicate'"),
        ("run train --notebook missing.ipynb", "'missing.ipynb'"),
        ("run train", "pass --notebook"),
        ("sweep --notebook churn.ipynb -p C=1 --parallel two", "--parallel"),
        ("run train --notebook ../outside.ipynb", "'..'"),
        ("tag train nosuchversion staging", "nosuchversion"),
    ],
)
def test_a_bad_line_is_one_error_line_with_no_traceback_and_no_run(kernel, project, line, named):
    before = len(_stored_runs(project))
    done = kernel.execute(f"%mlops {line}")
    assert done.reply["status"] == "error"
    assert done.reply["ename"] == "UsageError"
    assert not done.of_type("error"), "a traceback was published"
    errors = done.stream("stderr").strip().splitlines()
    assert len(errors) == 1, errors
    assert errors[0].startswith("UsageError: ")
    assert named in errors[0]
    assert len(_stored_runs(project)) == before


@pytest.mark.kernel
def test_help_lists_the_commands_and_h_shows_options(kernel):
    assert "sweep [FUNCTION]" in kernel.ok("%mlops help").stream("stdout")
    assert "--select" in kernel.ok("%mlops sweep -h").stream("stdout")


@pytest.fixture
def jupyter_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A real ``jupyter server`` process: (base URL with token, root, runtime dir)."""
    import socket
    import urllib.request

    root, runtime = tmp_path / "root", tmp_path / "runtime"
    root.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Only the server's own services: the other installed extensions only slow the start.
    config = tmp_path / "server_config.json"
    others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
    extensions = dict.fromkeys([*others, "jupyter_mlops"], False)
    config.write_text(json.dumps({"ServerApp": {"jpserver_extensions": extensions}}))
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}"]
    command += ["--IdentityProvider.token=secret", f"--ServerApp.root_dir={root}"]
    command += [f"--config={config}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    env = _kernel_env(JUPYTER_RUNTIME_DIR=str(runtime))
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token=secret", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield base, root, runtime
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.kernel
def test_in_a_kernel_a_jupyter_server_started_the_notebook_and_store_are_the_servers(
    jupyter_server,
):
    # Given a notebook in a subfolder of a real server's root (a space and a non-ASCII letter
    # in its path) and a session opened for it by path: the server starts the kernel in the
    # notebook's folder, JPY_SESSION_NAME the path relative to its root.
    import urllib.request

    from jupyter_client import BlockingKernelClient

    base, root, runtime = jupyter_server
    (root / "sub dir").mkdir()
    tiny = make_notebook(("n: int = 1", "parameters"), ("twice = n * 2", "mlops:fn:double"))
    (root / "sub dir" / "tiny ü.ipynb").write_text(json.dumps(tiny))
    body = {"path": "sub dir/tiny ü.ipynb", "type": "notebook"}
    request = urllib.request.Request(
        f"{base}/api/sessions?token=secret",
        data=json.dumps({**body, "kernel": {"name": "python3"}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        kernel_id = json.load(response)["kernel"]["id"]
    client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        _wait_for_kernel_info(client)
        kernel = Kernel(client)
        kernel.ok("%load_ext jupyter_mlops")
        # When the magic is used with no --notebook,
        session = kernel.ok("import os\nprint(os.environ['JPY_SESSION_NAME'])")
        done = kernel.ok("r = %mlops run double -p n=4\nprint(r.status, '|', r.notebook)")
    finally:
        client.stop_channels()
    # Then it ran the session's notebook, and the run is in the server's store (the root's
    # .mlops/, where the sidebar looks), not in the kernel's folder.
    assert session.stream("stdout").strip() == "sub dir/tiny ü.ipynb"
    assert done.stream("stdout").strip() == "succeeded | sub dir/tiny ü.ipynb"
    (recorded,) = _stored_runs(root)
    assert (recorded["notebook"], recorded["parameters"]) == ("sub dir/tiny ü.ipynb", {"n": 4})
    assert not (root / "sub dir" / ".mlops").exists()


def _wait_for_kernel_info(client: Any, timeout: float = 60) -> None:
    """A kernel_info reply: the kernel is up (its heartbeat may not beat yet, so no
    ``wait_for_ready``, which takes a silent heartbeat for a dead kernel)."""
    import queue

    deadline = time.monotonic() + timeout
    while True:
        msg_id = client.kernel_info()
        try:
            while client.get_shell_msg(timeout=2)["parent_header"].get("msg_id") != msg_id:
                pass
            return
        except queue.Empty:
            assert time.monotonic() < deadline, "the session's kernel never answered"


def test_kernel_notebook_reads_absolute_and_relative_session_paths(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "n.ipynb").write_text("{}")
    absolute = str(tmp_path / "a" / "n.ipynb")
    assert kernel_notebook({"JPY_SESSION_NAME": absolute}, tmp_path) == Path(absolute)
    found = kernel_notebook({"JPY_SESSION_NAME": "a/n.ipynb"}, tmp_path / "a")
    assert found == tmp_path / "a" / "n.ipynb"
    assert kernel_notebook({"JPY_SESSION_NAME": "console-1-abc"}, tmp_path) is None
    assert kernel_notebook({}, tmp_path) is None
    assert kernel_notebook({}, tmp_path, "/x/vs.ipynb") == Path("/x/vs.ipynb")


def test_the_server_root_comes_from_the_parent_servers_runtime_file(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "jpserver-4242.json").write_text(
        json.dumps({"pid": 4242, "root_dir": str(tmp_path)})
    )
    assert jupyter_server_root({"JPY_PARENT_PID": "4242"}) == tmp_path.resolve()
    assert jupyter_server_root({"JPY_PARENT_PID": "4243"}) is None
    assert jupyter_server_root({}) is None


def test_both_parameter_forms_parse_alike():
    from jupyter_mlops.arguments import normalize_parameters

    words = normalize_parameters(["run", "-p", "C=0.5", "train", "-p", "q", "a=b"])
    parsed = build_parser().parse_args(words)
    assert parsed.function == "train"
    assert parsed.parameter == [["C", "0.5"], ["q", "a=b"]]
    cli = cli_parser().parse_args(normalize_parameters(["run", "n.ipynb", "-p", "C=0.5"]))
    assert cli.parameter == [["C", "0.5"]]


def test_importing_the_package_does_not_load_ipython_or_widgets():
    code = (
        "import sys, jupyter_mlops; "
        "print([m for m in ('IPython', 'ipywidgets', 'jupyter_mlops.magics') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.kernel
def test_a_terminal_ipython_shows_plain_text_and_creates_no_widget(project):
    script = project / "terminal.ipy"
    script.write_text(
        "%load_ext jupyter_mlops\n"
        "plan = %mlops inspect --notebook churn.ipynb\n"
        "display(plan)\n"
        "import sys\n"
        "print('widgets loaded:', 'ipywidgets' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", str(script)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=_kernel_env(),
    )
    assert out.returncode == 0, out.stderr
    assert "Functions (in run order)" in out.stdout
    assert "widgets loaded: False" in out.stdout
    assert "widget-view" not in out.stdout


def test_user_text_in_the_html_form_is_escaped():
    from conftest import plan_of

    from jupyter_mlops.widgets import html_of, text_of

    plan = plan_of(
        ("x: str = '<img src=x onerror=alert(1)>'  # <script>alert(2)</script>", "parameters"),
        ("y = x", "mlops:fn:use"),
    )
    markup = html_of(plan)
    assert "<script>" not in markup
    assert "<img" not in markup
    assert "&lt;script&gt;" in markup
    assert "<script>alert(2)</script>" in text_of(plan)


@pytest.mark.kernel
def test_deploy_serves_a_function_and_keeps_its_token_out_of_the_output(kernel, project):
    import re
    import urllib.request

    kernel.ok("%mlops run --notebook churn.ipynb")
    try:
        text = kernel.ok("%mlops deploy predict --name magic --notebook churn.ipynb").result[
            "text/plain"
        ]
        assert "magic: running" in text
        assert "mlops_tokens['magic']" in text
        token = kernel.ok("print(mlops_tokens['magic'])").stream("stdout").strip()
        assert len(token) > 20
        assert token not in text
        url = re.search(r"url\s+(\S+)/invoke", text).group(1)
        body = {"tenure_months": 3, "charges": 120.0, "calls": 4, "contract_type": "monthly"}
        request = urllib.request.Request(
            f"{url}/invoke",
            json.dumps(body).encode(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert 0 <= answer["churn_probability"] <= 1
        assert "magic" in kernel.ok("%mlops deployments").result["text/plain"]
        assert "serving predict" in kernel.ok("%mlops logs magic").result["text/plain"]
    finally:
        stopped = kernel.ok("%mlops undeploy magic").result["text/plain"]
    assert stopped == "magic: stopped"


@pytest.mark.kernel
def test_convert_strict_refuses_a_magic_it_cannot_translate(kernel, project):
    notebook = make_notebook(("x = 1", ["mlops:setup"]), ("%sql SELECT 1\ny = x", ["mlops:fn:f"]))
    (project / "sql.ipynb").write_text(json.dumps(notebook))
    done = kernel.execute("%mlops convert --to python -o strict_out --notebook sql.ipynb --strict")
    assert done.reply["ename"] == "UsageError"
    assert "nothing written" in done.stream("stderr")
    assert "warning: cell 1: '%sql SELECT 1' (line 1)" in done.stream("stderr")
    assert not (project / "strict_out" / "sql.py").exists()
    written = kernel.ok("%mlops convert --to python -o strict_out --notebook sql.ipynb")
    assert "%sql SELECT 1" in written.result["text/plain"]  # the warning, in the report
    assert (project / "strict_out" / "sql.py").is_file()

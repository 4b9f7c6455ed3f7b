"""Faults an attack found in runs and sweeps, each on real processes.

- a sweep's space is never materialized: counted first, refused over a cap, points made lazily;
- an idempotency key never destroys work: a duplicate submit returns the same run, which
  goes on and succeeds with its folder intact;
- a run whose CLI process was SIGKILLed is `interrupted` on every surface within seconds,
  and cancelling it works;
- every stored value is checked against its sha256 before it is unpickled;
- ``--select`` with a metric the notebook can never record is refused before the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import make_notebook

import jupyter_mlops
from jupyter_mlops.cli import main
from jupyter_mlops.errors import ParameterError
from jupyter_mlops.execute.sweep import expand, sweep_size
from jupyter_mlops.notebook.recorded import recordable_metrics
from jupyter_mlops.service import MLOps
from jupyter_mlops.store import Store

pytestmark = pytest.mark.kernel

PACKAGE_PARENT = str(Path(jupyter_mlops.__file__).resolve().parents[1])

# make/model is a set: stored with pickle, so loading it unpickles.
NOTEBOOK = make_notebook(
    ("a: int = 2\nb: int = 0\npause: float = 0.0", "parameters"),
    ("import time\nfrom jupyter_mlops import log_metric", "mlops:setup"),
    ("model = {a, a + 1}", "mlops:fn:make"),
    (
        "time.sleep(pause)\ntotal = float(sum(model))\nlog_metric('logged', total + b)",
        ["mlops:fn:use", "mlops:metrics"],
    ),
)
SLOW = make_notebook("import time\ntime.sleep(60)")
HUGE = [str(i) for i in range(10_000)]  # two parameters of these: 10^8 grid points


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (tmp_path / "slow.ipynb").write_text(json.dumps(SLOW), encoding="utf-8")
    return tmp_path


@pytest.fixture
def service(project: Path) -> Any:
    mlops = MLOps(root_dir=str(project))
    yield mlops
    mlops.close()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + path if path else "")
    return env


def _cli_process(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """``jupyter mlops ARGS`` as its own process (and process group, to clean up after)."""
    code = "import sys; from jupyter_mlops.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--root", str(root), *args],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


# -- sweeps: counted, capped, lazy -----------------------------------------------------------


def test_a_sweep_over_the_cap_is_refused_naming_its_count_with_bounded_memory(service):
    before = _rss()
    started = time.monotonic()
    with pytest.raises(ParameterError, match=r"100,000,000 runs.*limit of 10,000") as raised:
        service.prepare_sweep("nb.ipynb", {"a": HUGE, "b": HUGE}, as_text=True)
    assert raised.value.parameter == "max_runs"
    assert time.monotonic() - started < 10
    assert _rss() - before < 100 * 2**20
    assert service.runs().runs == []


def test_max_runs_keeps_grid_and_random_sweeps_of_a_huge_space_lazy(service):
    before = _rss()
    grid = service.prepare_sweep("nb.ipynb", {"a": HUGE, "b": HUGE}, as_text=True, max_runs=2)
    sample = service.prepare_sweep(
        "nb.ipynb", {"a": HUGE, "b": HUGE}, as_text=True, strategy="random", max_runs=5, seed=3
    )
    assert _rss() - before < 100 * 2**20
    assert [r.parameters for r in grid.requests] == [
        {"a": 0, "b": 0, "pause": 0.0},
        {"a": 0, "b": 1, "pause": 0.0},
    ]
    points = {(r.parameters["a"], r.parameters["b"]) for r in sample.requests}
    assert len(points) == 5
    assert len(service.runs(limit=100).runs) == 7


def test_a_sweep_at_the_cap_is_recorded_in_seconds_not_minutes(service):
    started = time.monotonic()
    job = service.prepare_sweep("nb.ipynb", {"a": HUGE[:100], "b": HUGE[:100]}, as_text=True)
    assert time.monotonic() - started < 60  # one transaction per batch, not per run
    assert len(job.run_ids) == 10_000
    assert service.show(job.run_ids[-1]).parameters == {"a": 99, "b": 99, "pause": 0.0}
    assert service.runs(sweep=job.sweep.id, status="queued", limit=1).runs


def test_a_random_sample_of_a_space_past_every_machine_integer_is_lazy_and_distinct():
    big = {f"p{i}": list(range(100)) for i in range(20)}  # 10^40 points
    assert sweep_size(big) == 10**40
    sample = expand(big, "random", max_runs=50, seed=4)
    assert len({tuple(p.values()) for p in sample}) == 50
    assert sample == expand(big, "random", max_runs=50, seed=4)
    with pytest.raises(ParameterError, match=r"10,000,000,000(,000)* runs"):
        expand(big, limit=10_000)


def test_the_sweep_cap_is_configurable(project):
    mlops = MLOps(root_dir=str(project), max_sweep_runs=3)
    try:
        with pytest.raises(ParameterError, match="would start 4 runs"):
            mlops.prepare_sweep("nb.ipynb", {"a": ["1", "2"], "b": ["1", "2"]}, as_text=True)
        job = mlops.prepare_sweep("nb.ipynb", {"a": ["1", "2", "3"]}, as_text=True)
        assert len(job.run_ids) == 3
    finally:
        mlops.close()


def test_the_cli_refuses_a_huge_sweep_with_exit_code_2(project, capsys):
    values = ",".join(HUGE)
    code = main(["--root", str(project), "sweep", "nb.ipynb", "-p", "a", values, "-p", "b", values])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ")
    assert "100,000,000 runs" in err
    assert "Traceback" not in err


# -- idempotency keys ------------------------------------------------------------------------


def test_duplicate_submits_with_one_key_give_one_run_that_succeeds_intact(service):
    # Given two submits with one key at once, and a retry once the run is going
    results: list[Any] = []

    def submit() -> None:
        results.append(
            service.run("nb.ipynb", parameters={"pause": 3.0}, idempotency_key="nightly-1")
        )

    workers = [threading.Thread(target=submit) for _ in range(2)]
    for worker in workers:
        worker.start()
    work = Path(service.root_dir) / ".mlops" / "work"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (work.is_dir() and any(work.iterdir())):
        time.sleep(0.05)
    time.sleep(0.5)
    [folder] = work.iterdir()
    run_id = folder.name
    assert service.show(run_id).status == "running"
    retry = threading.Thread(target=submit)
    retry.start()
    time.sleep(1.0)
    # Then the retry leaves the run going, its folder untouched
    assert folder.is_dir()
    assert service.show(run_id).status == "running"
    for worker in [*workers, retry]:
        worker.join(60)
    # and every submit returns that run, finished
    assert [(run.id, run.status) for run in results] == [(run_id, "succeeded")] * 3
    final = service.show(run_id)
    assert final.metrics["logged"] == 5.0
    assert {"make/model", "output.ipynb"} <= {a.name for a in final.artifacts}
    assert len(service.runs().runs) == 1


def test_a_cli_retry_with_the_key_of_a_run_going_elsewhere_reports_its_outcome(project, capsys):
    args = ["run", "nb.ipynb", "-p", "pause", "4", "--idempotency-key", "k-7"]
    first = _cli_process(project, *args)
    try:
        run_id = _wait_running(project)
        code = main(["--root", str(project), *args, "--json"])
        retried = json.loads(capsys.readouterr().out)
        assert (code, retried["id"], retried["status"]) == (0, run_id, "succeeded")
        assert first.wait(60) == 0
    finally:
        _kill_group(first)


# -- a dead CLI process ----------------------------------------------------------------------


def _wait_running(root: Path, timeout: float = 60) -> str:
    with Store.for_root(root) as store:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = store.list_runs(status="running").runs
            if runs:
                return runs[0].id
            time.sleep(0.1)
    raise AssertionError("the CLI's run never started")


def test_a_killed_cli_run_is_interrupted_for_a_store_already_open(project, capsys):
    # Given a long-lived reader (like the Jupyter server) that saw the run running
    process = _cli_process(project, "run", "slow.ipynb")
    try:
        run_id = _wait_running(project)
        with Store.for_root(project) as store:
            assert store.get_run(run_id).status == "running"
            # When the CLI process is SIGKILLed
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            # Then that reader sees it interrupted within seconds
            deadline = time.monotonic() + 8
            while store.get_run(run_id).status == "running" and time.monotonic() < deadline:
                time.sleep(0.2)
            run = store.get_run(run_id)
            assert run.status == "interrupted"
            assert str(process.pid) in run.error["evalue"]
        code = main(["--root", str(project), "runs", "--json"])
        listed = json.loads(capsys.readouterr().out)["runs"]
        assert code == 0
        assert [r["status"] for r in listed] == ["interrupted"]
    finally:
        _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


# -- the REST API on a real Jupyter server ---------------------------------------------------


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (jp_root_dir / "slow.ipynb").write_text(json.dumps(SLOW), encoding="utf-8")
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MLOpsExtension": {"max_body_bytes": 1_000_000},
    }


@pytest.fixture
def api(jp_fetch: Any) -> Any:
    async def call(method: str, *parts: str, body: Any = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if method == "POST":
            kwargs["body"] = json.dumps(body) if body is not None else b""
        response = await jp_fetch("mlops", "api", *parts, **kwargs)
        return response.code, json.loads(response.body) if response.body else None

    return call


async def test_rest_refuses_a_huge_sweep_quickly_and_sweeps_one_point_of_it(api):
    before = _rss()
    started = time.monotonic()
    status, body = await api(
        "POST", "sweeps", body={"path": "nb.ipynb", "space": {"a": HUGE, "b": HUGE}}
    )
    assert status == 400, body
    assert "100,000,000 runs" in body["message"]
    assert body["parameter"] == "max_runs"
    assert time.monotonic() - started < 15
    status, body = await api(
        "POST", "sweeps", body={"path": "nb.ipynb", "space": {"a": HUGE, "b": HUGE}, "max_runs": 1}
    )
    assert status == 202, body
    assert len(body["runs"]) == 1
    assert _rss() - before < 150 * 2**20


async def test_rest_duplicate_submits_with_one_key_give_one_intact_run(api, jp_root_dir):
    body = {"path": "nb.ipynb", "parameters": {"pause": "2"}, "idempotency_key": "k-42"}
    answers = await asyncio.gather(*(api("POST", "runs", body=body) for _ in range(3)))
    assert {status for status, _ in answers} == {202}
    ids = {run["id"] for _, run in answers}
    assert len(ids) == 1
    run_id = ids.pop()
    await asyncio.sleep(1.0)
    status, retry = await api("POST", "runs", body=body)
    assert (status, retry["id"]) == (202, run_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, run = await api("GET", "runs", run_id)
        if run["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.2)
    assert run["status"] == "succeeded", run["error"]
    assert run["metrics"]["logged"] == 5.0


async def test_rest_shows_a_killed_cli_run_interrupted_and_cancel_works(api, jp_root_dir):
    first = _cli_process(jp_root_dir, "run", "slow.ipynb")
    second = _cli_process(jp_root_dir, "run", "slow.ipynb")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, page = await api("GET", "runs")
            running = [r for r in page["runs"] if r["status"] == "running"]
            if len(running) == 2:
                break
            await asyncio.sleep(0.2)
        by_pid = {run["pid"]: run["id"] for run in running}
        # When the first CLI is killed, the server shows its run interrupted within seconds
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            _, run = await api("GET", "runs", by_pid[first.pid])
            if run["status"] != "running":
                break
            await asyncio.sleep(0.2)
        assert run["status"] == "interrupted"
        _, page = await api("GET", "runs")
        assert {r["id"]: r["status"] for r in page["runs"]}[by_pid[first.pid]] == "interrupted"
        # and cancelling a run whose CLI was just killed works, at once
        await api("GET", "runs")
        second.send_signal(signal.SIGKILL)
        second.wait(10)
        status, cancelled = await api("POST", "runs", by_pid[second.pid], "cancel")
        assert status == 200, cancelled
        assert cancelled["status"] == "interrupted"
        status, again = await api("POST", "runs", by_pid[first.pid], "cancel")
        assert (status, again["status"]) == (200, "interrupted")
    finally:
        _kill_group(first)
        _kill_group(second)


# -- sha256 before every unpickle ------------------------------------------------------------


def _corrupt(service: MLOps, run_id: str, name: str) -> None:
    """Replace the stored bytes of an artifact by another valid pickle (a silent swap)."""
    artifact = next(a for a in service.show(run_id).artifacts if a.name == name)
    path = service.store.artifact_path(artifact.id)
    path.chmod(0o644)
    path.write_bytes(pickle.dumps({100}))
    assert hashlib.sha256(path.read_bytes()).hexdigest() != artifact.sha256


def test_a_changed_value_file_is_never_loaded_by_a_function_run(project, service, capsys):
    whole = service.run("nb.ipynb")
    assert whole.status == "succeeded", whole.error
    _corrupt(service, whole.id, "make/model")
    # --from RUN, through the CLI
    code = main(["--root", str(project), "run", "nb.ipynb", "-f", "use", "--from", whole.id[:10]])
    out = capsys.readouterr().out
    assert code == 1
    assert "make/model" in out
    assert "sha256" in out
    # the newest producing run, chosen for the upstream input
    run = service.run("nb.ipynb", function="use")
    assert run.status == "failed"
    assert "artifact make/model" in run.error["evalue"]
    assert "do not match the sha256" in run.error["evalue"]
    assert "logged" not in run.metrics


def test_a_changed_value_file_is_never_served(project, service, capsys):
    whole = service.run("nb.ipynb")
    assert whole.status == "succeeded", whole.error
    _corrupt(service, whole.id, "make/model")
    token = hashlib.sha256(b"secret-token").hexdigest()
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.serve", str(project / "nb.ipynb"), "use",
         "--root", str(project), "--port", "0"],
        env={**_env(), "MLOPS_SERVE_TOKEN_SHA256": token},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "artifact make/model" in result.stderr
    assert "sha256" in result.stderr
    assert "Traceback" not in result.stderr
    # a deployment refuses to start on it, naming it (no keeper is left behind)
    code = main(["--root", str(project), "deploy", "nb.ipynb", "-f", "use"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ")
    assert "artifact make/model" in err
    assert service.deployments.every() == []


def test_a_changed_value_file_fails_the_load_of_a_serving_worker(project, service):
    from jupyter_mlops.serve.binding import bind_inputs, load_values

    whole = service.run("nb.ipynb")
    plan = service.inspect(project / "nb.ipynb", name="nb.ipynb")
    bound = bind_inputs(service.store, plan, plan.function("use"), "nb.ipynb", whole.id)
    binding = [entry.to_dict() for entry in bound]
    assert load_values(binding) == {"model": {2, 3}}
    _corrupt(service, whole.id, "make/model")  # after the binding was resolved
    with pytest.raises(jupyter_mlops.errors.StoreError, match="artifact make/model"):
        load_values(binding)


# -- --select names a metric the notebook records --------------------------------------------


def test_select_of_a_metric_never_recorded_is_refused_before_the_sweep(service):
    with pytest.raises(ParameterError, match=r"never records a metric 'acuracy'") as raised:
        service.prepare_sweep("nb.ipynb", {"a": ["1", "2"]}, as_text=True, select="max:acuracy")
    assert raised.value.parameter == "select"
    assert "logged, total" in str(raised.value)
    assert service.runs().runs == []
    with pytest.raises(ParameterError, match="function 'make' never records"):
        service.prepare_sweep("nb.ipynb", {"a": ["1"]}, as_text=True, function="make",
                              select="max:total")  # fmt: skip
    # a metric of a metrics cell, and one logged under a literal name, are fine
    for metric in ("total", "logged"):
        job = service.prepare_sweep("nb.ipynb", {"a": ["1"]}, as_text=True, select=f"max:{metric}")
        assert len(job.run_ids) == 1


def test_select_of_a_metric_logged_under_a_computed_name_is_allowed_and_chosen(project, service):
    dynamic = make_notebook(
        ("k: int = 1", "parameters"),
        "from jupyter_mlops import log_metric\nfor i in range(3):\n    log_metric(f'm{i}', k * i)",
    )
    (project / "dyn.ipynb").write_text(json.dumps(dynamic), encoding="utf-8")
    result = service.sweep("dyn.ipynb", {"k": ["1", "3"]}, as_text=True, select="max:m2")
    assert result.best is not None
    assert result.best.parameters["k"] == 3


def test_cli_select_of_an_unknown_metric_is_exit_code_2(project, capsys):
    code = main(
        ["--root", str(project), "sweep", "nb.ipynb", "-p", "a", "1,2", "--select", "min:loss"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "never records a metric 'loss'" in err


@pytest.mark.parametrize(
    ("sources", "known"),
    [
        (["log_metric('a', 1)\nx = 2"], {"a", "declared"}),
        (["from jupyter_mlops import log_metric as lm\nlm(name='b', value=1)"], {"b", "declared"}),
        (["import jupyter_mlops\njupyter_mlops.log_metric('c', 1)"], {"c", "declared"}),
        (["x = 1", "%matplotlib inline\ny = 2"], {"declared"}),
        (["for n in 'ab':\n    log_metric(n, 1)"], None),
        (["log_metric(*args)"], None),
        (["log = log_metric\nlog('a', 1)"], None),
        (["exec(code)"], None),
        (["%run helper.py"], None),
        (["!python train.py"], None),
        (["import subprocess"], None),
        (["getattr(jupyter_mlops, 'log_metric')('a', 1)"], None),
        (["import os\nos.environ['JUPYTER_MLOPS_RUN_DIR']"], None),
        (["def broken(:"], None),
    ],
)
def test_which_metrics_are_decidable_statically(sources, known):
    found = recordable_metrics(sources, ["declared"], None)
    assert found == (frozenset(known) if known is not None else None)


def test_a_module_next_to_the_notebook_makes_metrics_undecidable(tmp_path):
    (tmp_path / "helpers.py").write_text("from jupyter_mlops import log_metric\n")
    assert recordable_metrics(["import helpers"], [], tmp_path) is None
    assert recordable_metrics(["import json"], [], tmp_path) == frozenset()

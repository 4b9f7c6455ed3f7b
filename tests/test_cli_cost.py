"""What a CLI process imports: the slow third-party imports a command does not need stay out.

Each test starts a new interpreter (the state under test is its ``sys.modules``) that runs the
real ``jupyter_mlops.cli.main`` and then looks at what got imported and how it behaves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE, REPO


def _python(code: str, cwd: Path) -> dict[str, object]:
    """Run ``code`` in a new interpreter importing this checkout; it prints one JSON line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_cli_defers_the_iri_grammar_and_validation_is_unchanged(tmp_path):
    pytest.importorskip("rfc3987_syntax")
    invalid = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"x": 1}]}
    (tmp_path / "invalid.ipynb").write_text(json.dumps(invalid), encoding="utf-8")
    code = f"""
import contextlib, io, json, sys
from jupyter_mlops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["inspect", {str(EXAMPLE)!r}])
import nbformat, jsonschema
after_cli = {{"lark": "lark" in sys.modules,
             "stand_in": type(sys.modules["rfc3987_syntax"]).__name__}}
try:
    nbformat.validate(nbformat.read("invalid.ipynb", as_version=4))
    rejected = False
except nbformat.ValidationError:
    rejected = True
checker = jsonschema.FormatChecker()
iri = [checker.conforms("https://example.org/a?b#c", "iri"), checker.conforms("no iri", "iri")]
print(json.dumps({{"code": code, "after_cli": after_cli, "rejected": rejected, "iri": iri,
                   "loaded": type(sys.modules["rfc3987_syntax"]).__name__}}))
"""
    seen = _python(code, tmp_path)
    assert seen["code"] == 0
    # nbformat (and jsonschema) were imported, but not the grammar behind the IRI format check.
    assert seen["after_cli"] == {"lark": False, "stand_in": "_Deferred"}
    assert seen["rejected"] is True
    # The IRI check still answers as before: it imports the real module when first used.
    assert seen["iri"] == [True, False]
    assert seen["loaded"] == "module"


def test_a_process_that_is_not_the_cli_is_left_as_it_was(tmp_path):
    pytest.importorskip("rfc3987_syntax")
    code = """
import json, sys
import jupyter_mlops.service, jsonschema
print(json.dumps({"type": type(sys.modules.get("rfc3987_syntax")).__name__}))
"""
    assert _python(code, tmp_path) == {"type": "module"}


def test_the_stand_in_is_not_installed_when_the_package_is_missing(tmp_path):
    # A folder on sys.path whose rfc3987_syntax cannot be found: a None entry in sys.modules
    # would make the import fail, so hide it with a meta path finder that knows nothing.
    code = """
import importlib.abc, json, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rfc3987_syntax":
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Hide())
from jupyter_mlops.lazy_modules import defer_rfc3987_syntax
installed = defer_rfc3987_syntax()
import jsonschema
print(json.dumps({"installed": installed, "in_modules": "rfc3987_syntax" in sys.modules,
                  "iri_checked": "iri" in jsonschema.FormatChecker().checkers}))
"""
    seen = _python(code, tmp_path)
    assert seen == {"installed": False, "in_modules": False, "iri_checked": False}

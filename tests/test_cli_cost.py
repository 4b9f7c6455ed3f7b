"""What a CLI process imports: the slow third-party imports a command does not need stay out.

Each test starts a new interpreter (the state under test is its ``sys.modules``) that runs the
real ``jupyter_mlops.cli.main`` and then looks at what got imported and how it behaves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import EXAMPLE, REPO, make_notebook


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
             "stand_in": type(sys.modules["rfc3987_syntax"]).__name__,
             "uri_stand_in": type(sys.modules["rfc3986_validator"]).__name__}}
try:
    nbformat.validate(nbformat.read("invalid.ipynb", as_version=4))
    rejected = False
except nbformat.ValidationError:
    rejected = True
checker = jsonschema.FormatChecker()
iri = [checker.conforms("https://example.org/a?b#c", "iri"), checker.conforms("no iri", "iri")]
uri = [checker.conforms("https://example.org/a", "uri"), checker.conforms("no uri", "uri")]
print(json.dumps({{"code": code, "after_cli": after_cli, "rejected": rejected, "iri": iri,
                   "uri": uri,
                   "loaded": type(sys.modules["rfc3987_syntax"]).__name__}}))
"""
    seen = _python(code, tmp_path)
    assert seen["code"] == 0
    # nbformat (and jsonschema) were imported, but not the grammar behind the IRI format check.
    assert seen["after_cli"] == {
        "lark": False,
        "stand_in": "_Deferred",
        "uri_stand_in": "_Deferred",
    }
    assert seen["rejected"] is True
    # The IRI check still answers as before: it imports the real module when first used.
    assert seen["iri"] == [True, False]
    assert seen["uri"] == [True, False]
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


# -- the zygote, started at the top of `run` and `sweep` ----------------------------------


def _marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries ``MLOPS_TEST_MARK=mark`` (zombies excluded)."""
    found = []
    needle = f"MLOPS_TEST_MARK={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def _cli_in_new_process(tmp_path: Path, script: str, mark: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLOPS_TEST_MARK": mark}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _wait_until_none_left(mark: str, seconds: float = 60) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _tiny_notebook(folder: Path) -> None:
    content = make_notebook(("alpha = 0.1", "parameters"), "total = alpha * 2")
    (folder / "tiny.ipynb").write_text(json.dumps(content), encoding="utf-8")


@pytest.mark.parametrize("join", [True, False], ids=["started", "still-starting"])
def test_a_run_refused_for_a_bad_parameter_leaves_no_zygote_behind(tmp_path, join):
    # The zygote is started before the notebook and its parameters are checked, so a user
    # error ends a command that has one (or one still starting): it must not outlive it.
    _tiny_notebook(tmp_path)
    mark = f"prestart-{uuid.uuid4().hex}"
    script = f"""
import contextlib, io, json, threading
from jupyter_mlops.cli import main
from jupyter_mlops.execute import zygotes as zygote_pool
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(["run", "tiny.ipynb", "-p", "alpha=not-a-number"])
if {join!r}:
    for thread in threading.enumerate():
        if thread.name == "mlops-zygote-prestart":
            thread.join(120)
zygote = zygote_pool._zygote
print(json.dumps({{"code": code, "error": err.getvalue(),
                   "zygote": zygote is not None and zygote.alive}}))
"""
    seen = _cli_in_new_process(tmp_path, script, mark)
    assert seen["code"] == 2
    assert "alpha" in str(seen["error"])
    if join:
        assert seen["zygote"] is True  # started early, before the parameters were checked
    assert _wait_until_none_left(mark) == []


def test_a_run_uses_the_zygote_started_early_and_papermill_runs_start_none(tmp_path):
    _tiny_notebook(tmp_path)
    mark = f"prestart-{uuid.uuid4().hex}"
    script = """
import contextlib, io, json, subprocess
from jupyter_mlops.cli import main
from jupyter_mlops.execute import zygotes as zygote_pool
started = []
original = subprocess.Popen.__init__
def spy(self, args, *rest, **options):
    started.append(list(args))
    original(self, args, *rest, **options)
subprocess.Popen.__init__ = spy
with contextlib.redirect_stdout(io.StringIO()):
    stock = main(["run", "tiny.ipynb", "--engine", "papermill"])
after_stock = zygote_pool._zygote is not None
with contextlib.redirect_stdout(io.StringIO()):
    ours = main(["run", "tiny.ipynb", "-p", "alpha=0.5"])
zygotes = [a for a in started if a[1:] == ["-m", "jupyter_mlops.execute.zygote"]]
print(json.dumps({"codes": [stock, ours], "after_stock": after_stock,
                  "zygotes": len(zygotes)}))
"""
    seen = _cli_in_new_process(tmp_path, script, mark)
    assert seen["codes"] == [0, 0]
    assert seen["after_stock"] is False  # --engine papermill: no zygote started for nothing
    assert seen["zygotes"] == 1  # the early one served the run: the engine started no other
    assert _wait_until_none_left(mark) == []


# -- kernelspecs without IPython ---------------------------------------------------------


def test_a_cli_run_checks_its_kernel_without_importing_ipython(tmp_path):
    _tiny_notebook(tmp_path)
    script = """
import contextlib, io, json, sys
from jupyter_mlops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["run", "tiny.ipynb", "-p", "alpha=0.5"])
print(json.dumps({"code": code, "ipython": sorted(m for m in sys.modules if m == "IPython"
                                                  or m.startswith("IPython.")),
                  "boto3": "boto3" in sys.modules}))
"""
    env_home = tmp_path / "home"  # a home with no ~/.ipython/kernels
    env_home.mkdir()
    mark = f"kernels-{uuid.uuid4().hex}"
    seen = _cli_in_new_process(
        tmp_path, f"import os; os.environ['HOME'] = {str(env_home)!r}\n" + script, mark
    )
    assert seen == {"code": 0, "ipython": [], "boto3": False}
    assert _wait_until_none_left(mark) == []


@pytest.mark.parametrize("ipython_kernels", [False, True], ids=["none", "in-IPYTHONDIR"])
def test_kernelspecs_are_found_as_jupyter_client_finds_them(tmp_path, ipython_kernels):
    ipython_dir = tmp_path / "ipython"
    if ipython_kernels:
        spec = ipython_dir / "kernels" / "only-in-ipython-dir"
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "x", "language": "python"}),
            encoding="utf-8",
        )
    script = """
import json, os
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_mlops.execute.kernelspecs import kernel_spec_manager
ours = kernel_spec_manager().find_kernel_specs()
stock = KernelSpecManager().find_kernel_specs()
print(json.dumps({"same": ours == stock, "names": sorted(ours)}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "IPYTHONDIR": str(ipython_dir)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["same"] is True
    assert ("only-in-ipython-dir" in seen["names"]) is ipython_kernels
    assert "python3" in seen["names"]


def test_papermill_s3_paths_still_get_papermill_s3_after_the_cli_deferred_it(tmp_path):
    pytest.importorskip("boto3")
    code = f"""
import contextlib, io, json, sys
from jupyter_mlops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["inspect", {str(EXAMPLE)!r}])
import papermill.iorw
before = "boto3" in sys.modules
handler = papermill.iorw.papermill_io.get_handler("s3://bucket/key.ipynb")
client = papermill.iorw.S3()  # what S3Handler calls for every s3:// path
from papermill import s3
handler = getattr(handler, "__name__", type(handler).__name__)  # a class is registered
print(json.dumps({{"before": before, "handler": handler,
                   "client": type(client).__module__ + "." + type(client).__name__,
                   "real": type(sys.modules["papermill.s3"]).__name__,
                   "same": isinstance(client, s3.S3), "boto3": "boto3" in sys.modules}}))
"""
    seen = _python(code, tmp_path)
    assert seen == {
        "before": False,
        "handler": "S3Handler",
        "client": "papermill.s3.S3",
        "real": "module",
        "same": True,
        "boto3": True,
    }


def test_a_command_on_a_store_at_head_does_not_import_alembic(tmp_path):
    _tiny_notebook(tmp_path)
    script = """
import contextlib, io, json, sys
from jupyter_mlops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["runs"])
print(json.dumps({"code": code, "alembic": "alembic" in sys.modules}))
"""
    first = _python(script, tmp_path)  # a new store: created and migrated (alembic is used)
    again = _python(script, tmp_path)  # at head: one query on alembic_version
    assert first["code"] == again["code"] == 0
    assert again["alembic"] is False


def test_a_whole_notebook_sweep_starts_its_warm_generation_early_and_its_runs_fork_from_it(
    tmp_path,
):
    # Given a notebook that imports a library the engine warms
    content = make_notebook(
        ("seed = 1", "parameters"),
        "import numpy as np\nx = float(np.random.default_rng(seed).random())",
    )
    (tmp_path / "nb.ipynb").write_text(json.dumps(content), encoding="utf-8")
    mark = f"prestart-{uuid.uuid4().hex}"
    script = """
import contextlib, io, json, subprocess
from jupyter_mlops.cli import main
started = []
original = subprocess.Popen.__init__
def spy(self, args, *rest, **options):
    started.append([str(a) for a in args])
    original(self, args, *rest, **options)
subprocess.Popen.__init__ = spy
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["sweep", "nb.ipynb", "-p", "seed", "1,2,3", "--parallel", "2", "--json"])
zygotes = [a[1:] for a in started if a[1:3] == ["-m", "jupyter_mlops.execute.zygote"]]
print(json.dumps({"code": code, "zygotes": zygotes, "sweep": json.loads(out.getvalue())}))
"""
    # When the CLI sweeps it (the warm generation is started at the top of the command)
    seen = _cli_in_new_process(tmp_path, script, mark)
    # Then one zygote process served the whole command: the early one was the generation the
    # engine asked for (a plain zygote plus a warm one would be two)
    assert seen["code"] == 0
    assert seen["zygotes"] == [["-m", "jupyter_mlops.execute.zygote", "--warm"]]
    runs = seen["sweep"]["runs"]  # type: ignore[index]
    assert [run["status"] for run in runs] == ["succeeded"] * 3
    assert _wait_until_none_left(mark) == []

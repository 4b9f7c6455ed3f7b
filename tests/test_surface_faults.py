"""Faults at the surfaces, found by an attack: bad JSON, bad paths, a broken store, big parses.

Each case runs against real processes: a real Jupyter server (pytest-jupyter's jp_fetch), the
real ``jupyter-mlops`` console script in a subprocess, a real SQLite file made unusable by a
real read-only mount, a real full tmpfs, or garbage bytes. (The same JSON cases against a
deployed endpoint are in test_serve.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook
from tornado.httpclient import HTTPResponse

import jupyter_mlops

pytestmark = pytest.mark.kernel

PACKAGE_PARENT = str(Path(jupyter_mlops.__file__).resolve().parents[1])
NOTEBOOK = make_notebook(
    ("x: int = 2\nrate: float = 0.5\nitems: list = []", "parameters"),
    ("doubled = x * 2", "mlops:fn:double"),
)
DEEP = "[" * 10_000 + "]" * 10_000
LONG_NAME = "n" * 300 + ".ipynb"


def _big_notebook(cells: int) -> dict[str, Any]:
    """A notebook that takes seconds to parse: many cells of many statements."""
    specs: list[Any] = [("x: int = 1", "parameters"), ("import math", "mlops:setup")]
    for i in range(cells):
        code = "\n".join(f"v{i}_{j} = math.sqrt(x + {j}) * {j}" for j in range(20))
        specs.append((code, f"mlops:fn:f{i}" if i % 10 == 0 else []))
    return make_notebook(*specs)


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (jp_root_dir / ".hidden").mkdir()
    (jp_root_dir / ".hidden" / "secret.ipynb").write_text(json.dumps(NOTEBOOK), "utf-8")
    (jp_root_dir / "to-hidden.ipynb").symlink_to(".hidden/secret.ipynb")
    (jp_root_dir / "to-hidden-dir").symlink_to(".hidden")
    (jp_root_dir / "loop.ipynb").symlink_to("loop.ipynb")
    os.mkfifo(jp_root_dir / "pipe.ipynb")
    (jp_root_dir / "deep.ipynb").write_text(DEEP, encoding="utf-8")
    missing_kernel = make_notebook(("x: int = 1", "parameters"), kernel="no-such-kernel")
    (jp_root_dir / "other-kernel.ipynb").write_text(json.dumps(missing_kernel), "utf-8")
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


@pytest.fixture
def api(jp_fetch: Any) -> Any:
    async def call(method: str, *parts: str, body: Any = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        response: HTTPResponse = await jp_fetch("mlops", "api", *parts, **kwargs)
        assert response.headers["Content-Type"].startswith("application/json")
        return response.code, json.loads(response.body)

    return call


# -- JSON a Python parser takes but a service cannot hold --------------------------------------

BAD_JSON = [
    pytest.param("runs", '{"path": "nb.ipynb", "timeout": ' + DEEP + "}", "body", id="deep"),
    pytest.param("runs", '{"path": "nb.ipynb", "timeout": 1' + "0" * 400 + "}", "timeout",
                 id="400-digits"),
    pytest.param("runs", '{"path": "nb.ipynb", "timeout": 1e999}', "timeout", id="1e999"),
    pytest.param("runs", '{"path": "nb.ipynb", "timeout": NaN}', "timeout", id="NaN"),
    pytest.param("runs", '{"path": "nb.ipynb", "timeout": -Infinity}', "timeout", id="-Infinity"),
    pytest.param("sweeps", '{"path": "nb.ipynb", "space": {"rate": [0.1, 1e999]}}',
                 "space.rate[1]", id="sweep-point"),
    pytest.param("parse", '{"path": "nb\\ud800.ipynb"}', "path", id="surrogate-path"),
    pytest.param("parse", '{"path": "nb.ipynb", "content": {"cells": [{"source": "\\udfff"}]}}',
                 "content.cells[0].source", id="surrogate-content"),
    pytest.param("check", '{"path": "nb.ipynb", "parameters": {"x": "1"}, "content": '
                 + '{"a": ' * 80 + "1" + "}" * 81, "content", id="nested-80"),
]  # fmt: skip


@pytest.mark.parametrize(("route", "body", "field"), BAD_JSON)
async def test_json_a_service_cannot_hold_is_a_400_naming_the_field(
    api: Any, route: str, body: str, field: str
) -> None:
    status, error = await api("POST", route, body=body)
    assert status == 400, error
    assert error["field"] == field
    assert "Traceback" not in json.dumps(error)
    assert (await api("GET", "runs"))[1]["runs"] == []  # nothing was recorded


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("to-hidden.ipynb", "leads to a hidden file"),
        ("to-hidden-dir/secret.ipynb", "leads to a hidden file"),
        (".hidden/secret.ipynb", "hidden file or folder"),
        ("loop.ipynb", "symbolic link loop"),
        (LONG_NAME, "at most 255"),
        ("a/" * 2100 + "x.ipynb", "at most 4096"),
        ("pipe.ipynb", "not a regular file (a named pipe)"),
    ],
)
async def test_a_bad_path_is_a_400_on_every_route_that_takes_one(
    api: Any, path: str, words: str
) -> None:
    for route, extra in (("parse", {}), ("check", {"parameters": {}}), ("runs", {})):
        status, error = await api("POST", route, body={"path": path, **extra})
        assert status == 400, (route, error)
        assert words in error["message"], (route, error)
    status, error = await api("POST", "deployments", body={"path": path, "function": "double"})
    assert status == 400, error


async def test_a_parameter_typed_as_10000_deep_text_is_a_400_naming_it(api: Any) -> None:
    for route in ("check", "runs"):
        body = {"path": "nb.ipynb", "parameters": {"items": DEEP}}
        status, error = await api("POST", route, body=body)
        assert status == 400, (route, error)
        assert error["parameter"] == "items"


async def test_a_saved_notebook_of_10000_nested_arrays_is_a_400(api: Any) -> None:
    for route, extra in (("parse", {}), ("check", {"parameters": {}}), ("runs", {})):
        status, error = await api("POST", route, body={"path": "deep.ipynb", **extra})
        assert status == 400, (route, error)
        assert "nests too deeply" in error["message"]


async def test_a_saved_notebook_whose_kernel_is_missing_is_a_400_naming_it(api: Any) -> None:
    status, error = await api("POST", "runs", body={"path": "other-kernel.ipynb"})
    assert status == 400
    assert "'no-such-kernel' is not installed" in error["message"]
    assert (await api("GET", "runs"))[1]["runs"] == []


# -- large parses ------------------------------------------------------------------------------


async def test_large_parses_do_not_starve_the_other_routes(api: Any) -> None:
    # Given four parses of a notebook that takes seconds each
    body = {"path": "big.ipynb", "content": _big_notebook(300)}
    started = time.monotonic()
    alone = await api("POST", "parse", body=body)
    one_parse = time.monotonic() - started
    assert alone[0] == 200
    parses = [asyncio.ensure_future(api("POST", "parse", body=body)) for _ in range(4)]
    await asyncio.sleep(min(1.0, one_parse / 3))
    # When the runs are listed meanwhile
    started = time.monotonic()
    status, _ = await api("GET", "runs")
    waited = time.monotonic() - started
    still_parsing = sum(not parse.done() for parse in parses)
    # Then the list comes at once, not after the parses (a bound well under one parse)
    assert status == 200
    assert still_parsing >= 2, "the parses were too quick to test anything"
    assert waited < max(2.0, one_parse / 2), (waited, one_parse)
    assert [result[0] for result in await asyncio.gather(*parses)] == [200] * 4


async def test_a_notebook_over_the_parse_limit_is_a_413(api: Any, jp_serverapp: Any) -> None:
    jp_serverapp.web_app.settings["mlops_max_parse_bytes"] = 10_000
    body = {"path": "big.ipynb", "content": _big_notebook(20)}
    status, error = await api("POST", "parse", body=body)
    assert status == 413
    assert "max_parse_bytes" in error["message"]


# -- the CLI on the same paths ------------------------------------------------------------------


def _cli(root: Path, *words: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), *words],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    return tmp_path


def test_the_cli_refuses_a_fifo_at_once_instead_of_waiting_for_a_writer(project: Path) -> None:
    os.mkfifo(project / "x.ipynb")
    for command in ("inspect", "run"):
        _one_line_error(_cli(project, command, "x.ipynb", timeout=60), "named pipe")


def test_the_cli_names_link_loops_long_names_and_symlinks_to_hidden_files(project: Path) -> None:
    (project / "loop.ipynb").symlink_to("loop.ipynb")
    (project / ".private").mkdir()
    (project / ".private" / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (project / "link.ipynb").symlink_to(".private/nb.ipynb")
    _one_line_error(_cli(project, "inspect", "loop.ipynb"), "symbolic links")
    _one_line_error(_cli(project, "inspect", LONG_NAME), "too long")
    _one_line_error(_cli(project, "run", "loop.ipynb"), "symbolic link loop")
    _one_line_error(_cli(project, "run", LONG_NAME), "at most 255")
    _one_line_error(_cli(project, "run", "link.ipynb"), "hidden")
    _one_line_error(_cli(project, "run", ".private/nb.ipynb"), "hidden")
    _one_line_error(_cli(project, "run", "caf\udcff.ipynb"), "not valid text")
    (project / "deep.ipynb").write_text(DEEP, encoding="utf-8")
    _one_line_error(_cli(project, "inspect", "deep.ipynb"), "nests too deeply")


def test_the_cli_names_a_parameter_typed_as_10000_deep_text(project: Path) -> None:
    _one_line_error(_cli(project, "run", "nb.ipynb", "-p", "items", DEEP), "parameter 'items'")
    assert "no runs" in _cli(project, "runs").stdout


def test_the_cli_names_a_missing_kernel_before_running(project: Path) -> None:
    other = make_notebook(("x: int = 1", "parameters"), kernel="no-such-kernel")
    (project / "other.ipynb").write_text(json.dumps(other), encoding="utf-8")
    _one_line_error(_cli(project, "run", "other.ipynb"), "'no-such-kernel' is not installed")
    assert "no runs" in _cli(project, "runs").stdout


# -- a store that cannot be opened ---------------------------------------------------------------


@contextmanager
def _mounted(*command: str) -> Iterator[None]:
    """A real mount (this machine runs the tests as root); skipped where mounting is refused."""
    mounted = subprocess.run(["mount", *command], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", command[-1]], check=True)


def test_a_corrupted_store_is_one_line_that_names_the_file_and_what_to_do(project: Path) -> None:
    (project / ".mlops").mkdir()
    (project / ".mlops" / "mlops.db").write_bytes(os.urandom(8192))
    line = _one_line_error(_cli(project, "runs"), str(project / ".mlops" / "mlops.db"))
    assert "not a database" in line
    assert "move it aside" in line


def test_a_read_only_store_is_one_line_that_names_the_file_and_what_to_do(project: Path) -> None:
    assert "no runs" in _cli(project, "runs").stdout  # a store exists
    with _mounted("--bind", str(project), str(project)):
        subprocess.run(["mount", "-o", "remount,bind,ro", str(project)], check=True)
        line = _one_line_error(_cli(project, "runs"), str(project / ".mlops" / "mlops.db"))
        assert "writable" in line


def test_a_full_disk_is_one_line_that_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "small"
    root.mkdir()
    with _mounted("-t", "tmpfs", "-o", "size=16k", "tmpfs", str(root)):
        (root / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
        line = _one_line_error(_cli(root, "runs"), str(root / ".mlops" / "mlops.db"))
        assert "the disk is full" in line


def test_a_disk_that_fills_up_later_is_one_line_too(tmp_path: Path) -> None:
    root = tmp_path / "filling"
    root.mkdir()
    with _mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root)):
        (root / "nb.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
        assert "no runs" in _cli(root, "runs").stdout  # the store opens while there is room
        with (root / "filler").open("wb", buffering=0) as filler:  # then the disk fills up
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:
                pass
        line = _one_line_error(_cli(root, "run", "nb.ipynb"), str(root / ".mlops" / "mlops.db"))
        assert "the disk is full" in line

"""The REST API under generated requests: schemathesis drives every documented route of
docs/openapi.yaml against a real Jupyter server, and none may answer 500.

A user's mistake is a 4xx with a message (RELIABILITY.md "Requests"); a 500 here is a bug
in a handler, whatever the request looked like.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import EXAMPLE, REPO

pytestmark = pytest.mark.kernel

TOKEN = "fuzz-token-0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(EXAMPLE, root / "churn.ipynb")
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser",
            f"--port={port}", f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={TOKEN}",
            "--ServerApp.jpserver_extensions={'jupyter_mlops': True}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(
                f"{url}/mlops/api/info", headers={"Authorization": f"token {TOKEN}"}
            )
            with urllib.request.urlopen(request, timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError((tmp_path / "server.log").read_text()) from None
            time.sleep(0.2)
    yield url, tmp_path / "server.log"
    process.terminate()
    process.wait(timeout=30)
    log.close()


def test_no_generated_request_gets_a_server_error(server: tuple[str, Path]) -> None:
    url, log = server
    fuzz = subprocess.run(
        [
            "schemathesis", "run", str(REPO / "docs" / "openapi.yaml"),
            "--url", f"{url}/mlops/api",
            "--header", f"Authorization: token {TOKEN}",
            "--checks", "not_a_server_error",
            "--max-examples", "25",
            "--seed", "20261202",
            "--workers", "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=log.parent,  # its example database (.schemathesis/) stays out of the checkout
    )  # fmt: skip
    summary = fuzz.stdout[-4000:]
    assert fuzz.returncode == 0, summary + fuzz.stderr[-2000:]
    assert "generated" in summary  # it did run cases
    server_log = log.read_text()
    assert "internal error" not in server_log, server_log[-4000:]
    assert TOKEN not in server_log

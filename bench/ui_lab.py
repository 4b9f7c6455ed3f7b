"""The JupyterLab server of ``bench/ui.py``: started on a fresh project, waited for, stopped."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

START_TIMEOUT = 120.0


class BenchError(Exception):
    """A measurement could not be made; the message goes into the table."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_lab(root: Path, scratch: Path, port: int, token: str) -> subprocess.Popen[bytes]:
    """JupyterLab on ``root`` with a token, a throw-away workspaces dir and our extension."""
    config = scratch / "jupyter_server_config.py"
    settings = {
        "root": str(root),
        "port": port,
        "token": token,
        "workspaces": str(scratch / "workspaces"),
    }
    config.write_text(
        f"settings = {settings!r}\n"
        "c.ServerApp.root_dir = settings['root']\n"
        "c.ServerApp.port = settings['port']\n"
        "c.ServerApp.port_retries = 0\n"
        "c.ServerApp.open_browser = False\n"
        "c.ServerApp.allow_root = True\n"
        "c.IdentityProvider.token = settings['token']\n"
        "c.LabApp.workspaces_dir = settings['workspaces']\n"
        "c.ServerApp.jpserver_extensions.update({'jupyter_mlops': True})\n",
        encoding="utf-8",
    )
    log = (scratch / "lab.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", f"--config={config}"],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_up(server: subprocess.Popen[bytes], base: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"JupyterLab exited ({server.returncode}): {_last_line(log)}")
        try:
            with urllib.request.urlopen(f"{base}mlops/api/info?token={token}", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    raise BenchError(f"JupyterLab did not answer in {START_TIMEOUT:.0f} s: {_last_line(log)}")


def stop_lab(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(empty log)"


def kernels_idle(base: str, token: str) -> bool:
    """Whether the notebook's kernel is up and idle (an error answer counts as not yet)."""
    try:
        with urllib.request.urlopen(f"{base}api/kernels?token={token}", timeout=5) as response:
            kernels: list[dict[str, Any]] = json.load(response)
    except (urllib.error.URLError, ConnectionError):  # HTTPError too: a kernel starting
        return False
    return bool(kernels) and all(k.get("execution_state") == "idle" for k in kernels)

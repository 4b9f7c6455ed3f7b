"""One configuration, every process: ``jupyter_mlops_config.py|json`` read by the CLI, the
magic, the server extension, and handed to the keeper and serving processes.

Given a config file that moves the store and the artifacts out of the project, when runs, a
sweep and a deployment with upstream inputs are made from real CLI processes (and a real
kernel, and a real Jupyter server), then each of them reads and writes the configured places
and nothing appears under ``<root>/.mlops``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jupyter_core.paths
import pytest
from conftest import make_notebook

from jupyter_mlops.errors import MLOpsError
from jupyter_mlops.project import PROJECT_ENV, Project, load_project, mask_url
from jupyter_mlops.store import Store

SCORE = make_notebook(
    ("scale: float = 1.0  # how steep\nx: float = 1.0  # the feature", "parameters"),
    ("weights = [0.5, 2.0 * scale]\nbias = 0.25", "mlops:fn:train"),
    ("score = float(weights[1] * x + bias)", "mlops:fn:predict"),
)


def _write_config(folder: Path, text: str, suffix: str = ".py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"jupyter_mlops_config{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


def _moved(base: Path) -> str:
    """A config file body that moves the store and the artifacts under ``base``."""
    return (
        f"c.MLOps.store_url = 'sqlite:///{base / 'db' / 'team.db'}'\n"
        f"c.MLOps.artifacts_dir = {str(base / 'blobs')!r}\n"
    )


def _env(config_dir: Path) -> dict[str, str]:
    """A child's environment that sees only ``config_dir`` as the user's Jupyter config."""
    drop = {"JUPYTER_CONFIG_PATH", PROJECT_ENV, "JPY_SESSION_NAME", "MPLBACKEND"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "JUPYTER_CONFIG_DIR": str(config_dir)}


def _cli(root: Path, config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``jupyter mlops ARGS`` as a user types it in the project folder (no --root)."""
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=root,
        env=_env(config_dir),
    )


def _invoke(url: str, body: Any, token: str) -> tuple[int, Any]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    try:
        connection.request("POST", "/invoke", json.dumps(body).encode(), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Every folder of the Jupyter config path in tmp_path, so nothing of the machine's leaks."""
    folders = {
        name: tmp_path / name for name in ("system", "env", "user", "extra", "project", "away")
    }
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setattr(jupyter_core.paths, "SYSTEM_CONFIG_PATH", [str(folders["system"])])
    monkeypatch.setattr(jupyter_core.paths, "ENV_CONFIG_PATH", [str(folders["env"])])
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(folders["user"]))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(folders["extra"]))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")
    monkeypatch.setattr("site.ENABLE_USER_SITE", False)
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    return folders


# -- the lookup order ---------------------------------------------------------------------------


def test_each_setting_comes_from_the_latest_source_that_sets_it(paths: dict[str, Path]) -> None:
    system = _write_config(
        paths["system"],
        "c.MLOps.engine = 'papermill'\nc.MLOps.cell_timeout = 1\n"
        "c.MLOps.state_dir = 'from-system'\nc.MLOps.artifacts_dir = 'a-system'",
    )
    env = _write_config(paths["env"], "c.MLOps.cell_timeout = 2\nc.MLOps.state_dir = 'from-env'")
    user = _write_config(
        paths["user"],
        "c.MLOps.state_dir = 'from-user'\nc.MLOps.store_url = 'sqlite:///rel/user.db'\n"
        "c.MLOps.artifacts_dir = 'a-user'",
    )
    extra = _write_config(paths["extra"], '{"MLOps": {"artifacts_dir": "a-extra"}}', ".json")
    local = _write_config(paths["project"], '{"MLOps": {"store_url": "sqlite:///p.db"}}', ".json")

    project = load_project(
        overrides={"root_dir": str(paths["project"]), "artifacts_dir": "a-flag"}, source="--flag"
    )

    root = paths["project"].resolve()
    assert project.root_dir == str(root)
    assert project.files == tuple(str(p) for p in (system, env, user, extra, local))
    expected = {
        "engine": ("papermill", str(system)),
        "cell_timeout": (2.0, str(env)),
        "state_dir": (str(root / "from-user"), str(user)),  # relative: from the root
        "store_url": (f"sqlite:///{root / 'p.db'}", str(local)),
        "artifacts_dir": (str(root / "a-flag"), "--flag"),
        "root_dir": (str(root), "--flag"),
    }
    for key, (value, source) in expected.items():
        assert (getattr(project, key), project.sources[key]) == (value, source), key
    # what is not set follows what is: the work folders live in the state folder
    assert project.work_dir == root / "from-user" / "work"
    assert project.deployments_dir == root / "from-user" / "deployments"


def test_json_beats_py_in_one_folder_and_a_project_py_is_refused_by_name(
    paths: dict[str, Path],
) -> None:
    _write_config(paths["user"], "c.MLOps.engine = 'papermill'\nc.MLOps.cell_timeout = 4")
    _write_config(paths["user"], '{"MLOps": {"engine": "mlops"}}', ".json")
    _write_config(paths["project"], "c.MLOps.store_url = 'sqlite:///evil.db'")  # never runs

    project = load_project(default_root=paths["project"])

    assert project.engine == "mlops"
    assert project.sources["engine"].endswith("jupyter_mlops_config.json")
    assert project.cell_timeout == 4.0
    assert project.store_url == f"sqlite:///{paths['project'].resolve() / '.mlops' / 'mlops.db'}"
    assert any("jupyter_mlops_config.py is ignored" in w for w in project.warnings)


def test_a_config_value_of_the_wrong_type_names_the_file_and_the_setting(
    paths: dict[str, Path],
) -> None:
    bad = _write_config(paths["user"], "c.MLOps.cell_timeout = 'soon'")
    with pytest.raises(MLOpsError, match=r"MLOps\.cell_timeout must be a number") as caught:
        load_project(default_root=paths["project"])
    assert str(bad) in str(caught.value)


def test_the_sweep_cap_comes_from_a_config_file_and_reaches_the_service(
    paths: dict[str, Path],
) -> None:
    from jupyter_mlops.service import MLOps

    _write_config(paths["user"], "c.MLOps.max_sweep_runs = 3")
    project = load_project(default_root=paths["project"])
    assert project.max_sweep_runs == 3
    assert MLOps(project=project).max_sweep_runs == 3
    assert Project.from_json(project.to_json()).max_sweep_runs == 3
    _write_config(paths["user"], "c.MLOps.max_sweep_runs = 0")
    with pytest.raises(MLOpsError, match=r"MLOps\.max_sweep_runs must be a whole number"):
        load_project(default_root=paths["project"])


def test_the_local_state_follows_a_sqlite_store_file_and_stays_home_for_a_server_one(
    tmp_path: Path,
) -> None:
    moved = Project.resolve({"root_dir": str(tmp_path), "store_url": "sqlite:///elsewhere/x.db"})
    assert moved.store_url == f"sqlite:///{tmp_path / 'elsewhere' / 'x.db'}"
    assert moved.state_dir == str(tmp_path / "elsewhere")
    assert moved.artifacts_dir == str(tmp_path / "elsewhere" / "artifacts")
    served = Project.resolve({"root_dir": str(tmp_path), "store_url": "postgresql://h/db"})
    assert served.state_dir == str(tmp_path / ".mlops")
    assert served.artifacts_dir == str(tmp_path / ".mlops" / "artifacts")


def test_a_setting_given_beside_a_loaded_project_wins_and_defaults_follow_it(
    tmp_path: Path,
) -> None:
    from jupyter_mlops.service import MLOps

    loaded = Project.resolve({"root_dir": str(tmp_path), "engine": "papermill"}, {"engine": "f"})
    service = MLOps(project=loaded, engine="mlops", store_url="sqlite:///moved/s.db")
    assert (service.engine, service.project.sources["engine"]) == ("mlops", "MLOps(...)")
    assert service.project.state_dir == str(tmp_path / "moved")  # derived again, not kept
    assert MLOps(project=loaded).project is loaded


def test_the_resolved_project_travels_whole_through_json() -> None:
    project = Project.resolve(
        {"root_dir": "/srv/p", "store_url": "postgresql://u:pw@h/db", "engine": "papermill"},
        {"engine": "/etc/jupyter/jupyter_mlops_config.py"},
        files=("/etc/jupyter/jupyter_mlops_config.py",),
    )
    again = Project.from_json(project.environ()[PROJECT_ENV])
    assert again == project
    assert again.sources == project.sources
    assert again.files == project.files


# -- jupyter mlops config -----------------------------------------------------------------------


def test_cli_config_shows_each_setting_with_its_source_and_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "config"
    root = tmp_path / "project"
    root.mkdir()
    path = _write_config(
        config,
        "c.MLOps.store_url = 'postgresql+psycopg://ann:hunter2@db.example/mlops"
        "?sslpassword=opensesame&application_name=nb'\nc.MLOps.engine = 'papermill'\n",
    )

    shown = _cli(root, config, "config", "--json")
    text = _cli(root, config, "config")

    assert shown.returncode == 0, shown.stderr
    assert text.returncode == 0, text.stderr
    for output in (shown.stdout, text.stdout):
        assert "hunter2" not in output
        assert "opensesame" not in output
        assert "postgresql+psycopg://ann:***@db.example/mlops" in output
        assert "application_name=nb" in output
    report = json.loads(shown.stdout)
    assert report["settings"]["store_url"]["source"] == str(path)
    assert report["settings"]["engine"] == {"value": "papermill", "source": str(path)}
    assert report["settings"]["state_dir"] == {
        "value": str(root.resolve() / ".mlops"),
        "source": "default",
    }
    assert report["files"] == [str(path)]
    assert str(config / "jupyter_mlops_config.json") in report["searched"]
    assert report["searched"][-1] == str(root.resolve() / "jupyter_mlops_config.json")
    assert f"from {path}" in text.stdout
    assert not (root / ".mlops").exists()  # showing the settings opens nothing


def test_mask_url_hides_passwords_and_secret_query_values() -> None:
    assert mask_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert mask_url("mysql://u@h/db?api_key=k&charset=utf8") == (
        "mysql://u@h/db?api_key=***&charset=utf8"
    )
    assert mask_url("not a url: pw") == "***"


def test_a_broken_config_file_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config"
    broken = _write_config(config, "c.MLOps.store_url = (\n")
    done = _cli(tmp_path, config, "runs")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot read the config file {broken}")
    assert "Traceback" not in done.stderr


# -- every process: the mandatory end-to-end case ----------------------------------------------


@pytest.mark.kernel
def test_a_moved_store_and_artifacts_are_used_by_cli_keeper_and_serving_process(
    tmp_path: Path,
) -> None:
    # Given a user config that moves the store and the artifacts away
    config, away, root = tmp_path / "config", tmp_path / "away", tmp_path / "project"
    root.mkdir()
    (root / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    _write_config(config, _moved(away))

    # When a run and a sweep are made from the CLI in the project folder
    ran = _cli(root, config, "run", "score.ipynb", "-p", "scale", "3", "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["id"]
    swept = _cli(root, config, "sweep", "score.ipynb", "-p", "scale", "4,5", "--json")
    assert swept.returncode == 0, swept.stderr

    # and predict (whose weights come from train) is deployed from that run and invoked
    deployed = _cli(root, config, "deploy", "score.ipynb", "-f", "predict", "--from", run_id,
                    "--name", "moved", "--json")  # fmt: skip
    try:
        assert deployed.returncode == 0, deployed.stderr
        result = json.loads(deployed.stdout)
        status, answer = _invoke(result["deployment"]["url"], {"x": 2.0}, result["token"])
        # Then the serving process read the run's artifacts where the config put them
        assert (status, answer) == (200, {"score": 2.0 * 3 * 2.0 + 0.25})
        listed = _cli(root, config, "deployments", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [d["name"] for d in json.loads(listed.stdout)["deployments"]] == ["moved"]
        # the local state followed the store file: no state_dir needed to leave the root alone
        assert (away / "db" / "deployments" / "moved" / "keeper.log").is_file()
    finally:
        undeployed = _cli(root, config, "undeploy", "moved", "--delete")
    assert undeployed.returncode == 0, undeployed.stderr

    # and everything went where the config said, nothing under the project's .mlops
    assert not (root / ".mlops").exists()
    with Store(f"sqlite:///{away / 'db' / 'team.db'}", away / "blobs") as store:
        runs = store.list_runs(limit=10).runs
        assert len(runs) == 3
        assert {r.parameters["scale"] for r in runs} == {3.0, 4.0, 5.0}
        assert all(r.status == "succeeded" for r in runs)
        produced = [a for r in runs for a in r.artifacts]
        assert produced
        assert all(store.artifact_path(a.id).is_relative_to(away / "blobs") for a in produced)


@pytest.mark.kernel
def test_the_magic_in_a_real_kernel_reads_the_same_config_file(tmp_path: Path) -> None:
    from test_magics import Kernel

    config, away, root = tmp_path / "config", tmp_path / "away", tmp_path / "project"
    root.mkdir()
    (root / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    _write_config(config, _moved(away))
    kernel = Kernel.start(root, _env(config))
    try:
        kernel.ok("%load_ext jupyter_mlops")
        done = kernel.ok("r = %mlops run --notebook score.ipynb -p scale=2\nprint(r.id, r.status)")
        run_id, status = done.stream("stdout").split()
        shown = kernel.ok("%mlops config").result["text/plain"]
    finally:
        kernel.stop()
    assert status == "succeeded"
    assert str(away / "db" / "team.db") in shown
    listed = _cli(root, config, "show", run_id, "--json")  # the CLI finds it in the same store
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["parameters"]["scale"] == 2.0
    assert not (root / ".mlops").exists()


@pytest.fixture
def jp_server_config(jp_root_dir: Path, jp_config_dir: Path, tmp_path: Path) -> dict[str, Any]:
    (jp_root_dir / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    # pytest-jupyter points JUPYTER_CONFIG_DIR at jp_config_dir before the server starts
    _write_config(jp_config_dir, _moved(tmp_path / "away") + "c.MLOps.cell_timeout = 3\n")
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MLOpsExtension": {"supervise_interval": 0},
        "MLOps": {"cell_timeout": 60.0},  # the server's own c.MLOps wins over the file
    }


@pytest.mark.kernel
async def test_the_server_extension_reads_the_same_file_under_its_own_config(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, jp_config_dir: Path, tmp_path: Path
) -> None:
    service = jp_serverapp.web_app.settings["mlops_service"]
    assert service.project.cell_timeout == 60.0
    assert service.project.sources["cell_timeout"] == "jupyter_server config (c.MLOps)"
    assert service.project.sources["store_url"] == str(jp_config_dir / "jupyter_mlops_config.py")

    response = await jp_fetch(
        "mlops", "api", "runs", method="POST", body=json.dumps({"path": "score.ipynb"})
    )
    run = json.loads(response.body)
    deadline = time.monotonic() + 120
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        run = json.loads((await jp_fetch("mlops", "api", "runs", run["id"])).body)
    assert run["status"] == "succeeded", run

    away = tmp_path / "away"
    with Store(f"sqlite:///{away / 'db' / 'team.db'}", away / "blobs") as store:
        assert store.get_run(run["id"]).status == "succeeded"
    assert not (jp_root_dir / ".mlops").exists()


@pytest.mark.kernel
def test_a_kernel_the_server_started_uses_the_servers_own_store_setting(tmp_path: Path) -> None:
    """c.MLOps only in the server's config (no jupyter_mlops_config file): the magic in a
    kernel of that server still records into that store, where the sidebar lists it."""
    import socket
    import urllib.request

    from jupyter_client import BlockingKernelClient
    from test_magics import Kernel, _wait_for_kernel_info

    root, runtime, config = tmp_path / "root", tmp_path / "runtime", tmp_path / "config"
    root.mkdir()
    (root / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    store = tmp_path / "server-store" / "runs.db"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    others = ["jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals"]
    server_config = tmp_path / "server_config.json"
    server_config.write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {**dict.fromkeys(others, False),
                                              "jupyter_mlops": True}},
        "MLOps": {"store_url": f"sqlite:///{store}"},
        "MLOpsExtension": {"supervise_interval": 0},
    }))  # fmt: skip
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
               "--IdentityProvider.token=secret", f"--ServerApp.root_dir={root}",
               f"--config={server_config}", "--allow-root"]  # fmt: skip
    env = {**_env(config), "JUPYTER_RUNTIME_DIR": str(runtime)}
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token=secret", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        request = urllib.request.Request(
            f"{base}/api/sessions?token=secret",
            data=json.dumps({"path": "score.ipynb", "type": "notebook",
                             "kernel": {"name": "python3"}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as response:
            kernel_id = json.load(response)["kernel"]["id"]
        client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels()
        try:
            _wait_for_kernel_info(client)
            kernel = Kernel(client)
            kernel.ok("%load_ext jupyter_mlops")
            done = kernel.ok("r = %mlops run -p scale=7\nprint(r.id, r.status)")
        finally:
            client.stop_channels()
        run_id, status = done.stream("stdout").split()
        assert status == "succeeded"
        url = f"{base}/mlops/api/runs/{run_id}?token=secret"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert json.load(response)["parameters"] == {"scale": 7.0, "x": 1.0}
    finally:
        server.terminate()
        server.wait(timeout=30)
    with Store(f"sqlite:///{store}", store.parent / "artifacts") as opened:
        assert opened.get_run(run_id).status == "succeeded"
    assert not (root / ".mlops").exists()
    assert not list(runtime.glob("jupyter_mlops-*.json"))  # the server took its file away

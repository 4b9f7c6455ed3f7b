"""Runs recorded by another executor (kfp) are listed apart: store filter and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.errors import StoreError
from jupyter_mlops.store import Store


def _record(store: Store, executor: str) -> str:
    run, _ = store.create_run(notebook="nb.ipynb", parameters={}, executor=executor)
    return run.id


def test_list_runs_filters_by_executor(tmp_path: Path) -> None:
    store = Store.for_root(tmp_path)
    try:
        local = _record(store, "local")
        kfp = [_record(store, "kfp"), _record(store, "kfp")]
        assert {r.id for r in store.list_runs(executor="kfp").runs} == set(kfp)
        assert [r.id for r in store.list_runs(executor="local").runs] == [local]
        assert store.list_runs(executor="dask").runs == []
        assert len(store.list_runs().runs) == 3
    finally:
        store.close()


def test_runs_executor_option_on_the_real_cli(tmp_path: Path) -> None:
    store = Store.for_root(tmp_path)
    try:
        _record(store, "local")
        kfp = _record(store, "kfp")
    finally:
        store.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_mlops.cli",
            "--root",
            str(tmp_path),
            "runs",
            "--executor",
            "kfp",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["runs"]
    assert [(r["id"], r["executor"]) for r in listed] == [(kfp, "kfp")]


def test_an_unknown_status_is_still_refused_with_the_executor_filter(tmp_path: Path) -> None:
    store = Store.for_root(tmp_path)
    try:
        with pytest.raises(StoreError, match="nonsense"):
            store.list_runs(executor="kfp", status="nonsense")
    finally:
        store.close()

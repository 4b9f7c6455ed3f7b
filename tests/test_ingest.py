"""What a run leaves is recorded in one go: its artifacts' bytes side by side, one transaction.

A real SQLite store in tmp_path and, for the run, the real mlops engine (zygote and kernel).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_notebook
from sqlalchemy import event

from jupyter_mlops.errors import ConflictError, StoreError
from jupyter_mlops.service import MLOps
from jupyter_mlops.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.for_root(tmp_path / "project")
    yield opened
    opened.close()


def _files(folder: Path, **contents: bytes) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def test_add_artifacts_records_in_order_replacing_a_name_given_again(store, tmp_path):
    run, _ = store.create_run(notebook="nb.ipynb", parameters={})
    files = _files(tmp_path / "files", a=b"first", b=b"bytes of b", c=b"second")
    recorded = store.add_artifacts(
        run.id,
        [
            ("output.ipynb", "notebook", files["a"]),
            ("train/model", "model", files["b"]),
            ("output.ipynb", "notebook", files["c"]),  # given again: replaces the first
        ],
        output_notebook="output.ipynb",
    )
    final = store.get_run(run.id)
    assert sorted(a.name for a in final.artifacts) == ["output.ipynb", "train/model"]
    assert final.output_notebook == recorded[2].id
    by_name = {a.name: a for a in final.artifacts}
    assert store.artifact_path(by_name["output.ipynb"].id).read_bytes() == b"second"
    assert store.artifact_path(by_name["train/model"].id).read_bytes() == b"bytes of b"
    assert by_name["train/model"].size == len(b"bytes of b")


def test_add_artifacts_refuses_before_writing_anything(store, tmp_path):
    run, _ = store.create_run(notebook="nb.ipynb", parameters={})
    files = _files(tmp_path / "files", a=b"a")
    with pytest.raises(StoreError, match=r"'gone' of run .*: no file at"):
        store.add_artifacts(run.id, [("a", "file", files["a"]), ("gone", "file", tmp_path / "x")])
    with pytest.raises(StoreError, match="unknown kind"):
        store.add_artifacts(run.id, [("a", "no such kind", files["a"])])
    assert list(store.get_run(run.id).artifacts) == []
    store.start_run(run.id)
    store.finish_run(run.id, "succeeded")
    with pytest.raises(ConflictError, match="already succeeded"):
        store.add_artifacts(run.id, [("a", "file", files["a"])])
    blobs = [p for p in store.artifacts_dir.rglob("*") if p.is_file()]
    assert blobs == []  # nothing was written for a refused batch


def test_a_run_records_its_output_notebook_and_values_in_one_transaction(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    notebook = make_notebook(
        ("alpha = 0.1", "parameters"),
        ("values = [alpha * i for i in range(3)]\ntotal = sum(values)", "mlops:fn:compute"),
    )
    (root / "nb.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    service = MLOps(root_dir=str(root))
    engine = service.store._db.writer
    commits: list[str] = []
    event.listen(engine, "commit", lambda _connection: commits.append("commit"))
    run = service.run("nb.ipynb", parameters={"alpha": 0.5})
    assert run.status == "succeeded", run.error
    names = sorted(a.name for a in run.artifacts)
    assert names == ["compute/total", "compute/values", "output.ipynb"]
    assert run.output_notebook == next(a.id for a in run.artifacts if a.name == "output.ipynb")
    # create, start, artifacts (all three and the output notebook), lineage, finish:
    # one artifact at a time took a transaction each, plus one for the output notebook.
    assert len(commits) <= 5, commits

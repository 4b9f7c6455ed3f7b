"""Lineage: data sets runs read (log_input, file paths given as parameters), what is behind a
deployment, what is downstream of a data set, and OpenLineage events checked against the
vendored OpenLineage JSON schema (tests/openlineage/, see SOURCE.md there).

Real kernels run the notebook; a real keeper and serving process serve the deployment; the
store is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import REPO, make_notebook

from jupyter_mlops.actors import os_user
from jupyter_mlops.cli import main
from jupyter_mlops.magics import MLOpsMagics
from jupyter_mlops.service import MLOps
from jupyter_mlops.store import Store

pytestmark = pytest.mark.kernel

SCHEMA = json.loads((Path(__file__).parent / "openlineage" / "OpenLineage.json").read_text())

NOTEBOOK = make_notebook(
    ('data_path: str = "customers.csv"\nscale: float = 2.0', "parameters"),
    ("import pandas as pd\nfrom jupyter_mlops import log_input", "mlops:setup"),
    ("frame = pd.read_csv(data_path)\nclean = frame[frame.age > 0]\n"
     "log_input(clean, name='clean_customers')\nweight = float(clean.age.mean()) * scale",
     "mlops:fn:train"),
    ("x: float = 1.0\nscore = weight * x", "mlops:fn:predict"),
)  # fmt: skip

CSV = "id,age,city\n1,30,Oslo\n2,-1,Rome\n3,50,Lima\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lineage")
    (root / "model.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (root / "customers.csv").write_text(CSV, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def service(project: Path) -> Iterator[MLOps]:
    service = MLOps(root_dir=str(project))
    yield service
    for deployment in service.deployments.every():
        service.deployments.stop(deployment.name)
    service.close()


def test_a_run_records_parameter_files_and_logged_frames_with_full_hashes(
    service: MLOps, project: Path
) -> None:
    run = service.run("model.ipynb", function="train")
    assert run.status == "succeeded", run.error
    reads = {read["name"]: read for read in service.store.lineage.of_run(run.id)}
    assert set(reads) == {"data_path", "clean_customers"}
    by_path = reads["data_path"]
    data = (project / "customers.csv").read_bytes()
    assert by_path["source"] == "parameter"
    assert by_path["uri"] == str((project / "customers.csv").resolve())
    assert by_path["sha256"] == hashlib.sha256(data).hexdigest()
    assert by_path["size"] == len(data)
    assert [column["name"] for column in by_path["schema"]] == ["id", "age", "city"]
    frame = reads["clean_customers"]
    assert frame["source"] == "log_input"
    assert frame["uri"] is None
    import pandas as pd

    expected = pd.read_csv(project / "customers.csv").dtypes  # object or str by pandas version
    assert [(c["name"], c["type"]) for c in frame["schema"]] == [
        (name, str(dtype)) for name, dtype in expected.items()
    ]
    assert len(frame["sha256"]) == 64
    assert frame["size"] > 0


def test_deployment_lineage_and_downstream_of_a_data_set(
    service: MLOps,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = service.run("model.ipynb", function="train")
    deployment, _token = service.deployments.deploy(
        "model.ipynb", "predict", name="scorer", from_run=first.id,
        options={"monitor_interval": 0.3},
    )  # fmt: skip
    behind = service.store.lineage.behind("scorer")
    assert behind["kind"] == "deployment"
    assert behind["version"] == deployment.version
    assert [run["id"] for run in behind["runs"]] == [first.id]
    csv_sha = hashlib.sha256(CSV.encode()).hexdigest()
    assert csv_sha in {read["sha256"] for read in behind["runs"][0]["datasets"]}

    # the data set changes: a new run reads new bytes; downstream shows both hashes
    (project / "customers.csv").write_text(CSV + "4,20,Kyiv\n", encoding="utf-8")
    second = service.run("model.ipynb", function="train")
    found = service.store.lineage.downstream(str(project / "customers.csv"))
    assert {first.id, second.id} <= {run["id"] for run in found["runs"]}
    assert csv_sha in {entry["sha256"] for entry in found["hashes"]}
    assert len(found["hashes"]) >= 2
    assert {"function": "train", "version": first.version} in found["versions"]
    assert [d["name"] for d in found["deployments"]] == ["scorer"]
    assert found["deployments"][0]["bound_runs"] == [first.id]
    by_hash = service.store.lineage.downstream(csv_sha)  # the old bytes: not the new run
    assert first.id in {run["id"] for run in by_hash["runs"]}
    assert second.id not in {run["id"] for run in by_hash["runs"]}

    root = str(project)
    assert main(["--root", root, "lineage", "scorer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("deployment scorer (")
    assert f"run {first.id[:12]}" in out
    assert f"sha256 {csv_sha[:16]}" in out
    assert "columns: id, age, city" in out
    assert main(["--root", root, "lineage", "--data", str(project / "customers.csv")]) == 0
    out = capsys.readouterr().out
    assert "deployments (1)\n  scorer  predict" in out
    monkeypatch.chdir(project)  # a kernel's working folder: its project
    magics = MLOpsMagics()  # %mlops in a kernel: the same answers, by the OS user
    try:
        notebook = f"--notebook {project / 'model.ipynb'}"
        shown = repr(magics.mlops(f"lineage scorer {notebook}"))
        assert shown.startswith("deployment scorer (")
        assert f"run {first.id[:12]}" in shown
        audit = repr(magics.mlops(f"audit scorer {notebook}"))
        assert "deployment:deployed" in audit
        assert os_user() in audit
    finally:
        magics.close()
    assert main(["--root", root, "lineage", "train", "--json"]) == 0
    function = json.loads(capsys.readouterr().out)
    assert function["kind"] == "function"
    assert first.id in {r["id"] for v in function["versions"] for r in v["runs"]}


def test_openlineage_events_validate_against_the_schema(
    service: MLOps, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = service.run("model.ipynb", function="train")
    assert main(["--root", str(project), "lineage", "--openlineage", run.id]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [event["eventType"] for event in events] == ["START", "COMPLETE"]
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for event in events:
        validator.validate(event)
    inputs = {item["name"]: item for item in events[1]["inputs"]}
    path = str((project / "customers.csv").resolve())
    assert inputs[path]["namespace"] == "file"
    assert [f["name"] for f in inputs[path]["facets"]["schema"]["fields"]] == ["id", "age", "city"]
    assert events[1]["run"]["runId"].replace("-", "") == run.id
    assert main(["--root", str(project), "lineage", "--openlineage", "all"]) == 0
    every = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(every) >= 2 * 3  # the runs of every test in this module
    for event in every:
        validator.validate(event)
    broken = dict(events[0], eventType="DONE")  # the validator does reject a bad event
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_lineage_user_errors_are_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(project), "lineage"]) == 2
    assert capsys.readouterr().err.startswith("error: lineage: give one of")
    assert main(["--root", str(project), "lineage", "nothing-here"]) == 2
    assert "no deployment or function named 'nothing-here'" in capsys.readouterr().err


def test_lineage_answers_fast_at_ten_thousand_runs(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import lineage as bench
    finally:
        sys.path.remove(str(REPO / "bench"))
    url = f"sqlite:///{tmp_path / 'mlops.db'}"
    Store(url, tmp_path / "artifacts").close()
    bench.fill(url, 10_000)
    with Store(url, tmp_path / "artifacts") as store:
        behind = store.lineage.behind("dep-0")
        assert len(behind["runs"]) == 1
        assert len(behind["runs"][0]["datasets"]) == 1
        assert store.lineage.downstream(bench.data_path(7))["run_count"] == 100
        began = time.perf_counter()
        timings = bench.measure(store, repeat=5)
        assert time.perf_counter() - began < 60
    # the target is 50 ms (bench/lineage.py prints it); a loaded test machine gets 4x
    assert max(timings.values()) < 200, timings


# -- REST, on a real Jupyter server ----------------------------------------------------------


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "model.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (jp_root_dir / "customers.csv").write_text(CSV, encoding="utf-8")
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


async def test_the_rest_routes_answer_both_questions_and_export_events(jp_fetch: Any) -> None:
    async def get(*parts: str, **params: str) -> tuple[int, Any]:
        response = await jp_fetch("mlops", "api", *parts, params=params, raise_error=False)
        return response.code, json.loads(response.body)

    response = await jp_fetch(
        "mlops", "api", "runs", method="POST",
        body=json.dumps({"path": "model.ipynb", "function": "train"}),
    )  # fmt: skip
    run = json.loads(response.body)
    deadline = time.monotonic() + 120
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        _, run = await get("runs", run["id"])
    assert run["status"] == "succeeded", run

    status, behind = await get("lineage", "train")
    assert status == 200
    assert behind["kind"] == "function"
    runs = behind["versions"][0]["runs"]
    assert [r["id"] for r in runs] == [run["id"]]
    csv_sha = hashlib.sha256(CSV.encode()).hexdigest()
    assert csv_sha in {d["sha256"] for d in runs[0]["datasets"]}
    status, downstream = await get("lineage", data="customers.csv")  # from the root
    assert status == 200
    assert downstream["sha256"] == csv_sha
    assert [r["id"] for r in downstream["runs"]] == [run["id"]]
    status, exported = await get("runs", run["id"], "openlineage")
    assert status == 200
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    assert [event["eventType"] for event in exported["events"]] == ["START", "COMPLETE"]
    for event in exported["events"]:
        validator.validate(event)
    assert (await get("lineage", "nothing-here"))[0] == 404
    assert (await get("lineage"))[0] == 400  # data is required
    assert (await get("runs", "ffffffffffff", "openlineage"))[0] == 404


def test_a_malformed_input_record_is_skipped_and_the_rest_kept(
    service: MLOps, project: Path
) -> None:
    tampered = make_notebook(
        ("import json, os\nfrom jupyter_mlops import log_input\n"
         "log_input('customers.csv', name='kept')\n"
         "folder = os.environ['JUPYTER_MLOPS_RUN_DIR']\n"
         "with open(os.path.join(folder, 'inputs.jsonl'), 'a') as out:\n"
         "    out.write(json.dumps({'name': 'bad', 'sha256': 'x' * 70, 'size': -1}) + '\\n')\n"
         "    out.write('{cut short\\n')",
         "mlops:fn:tamper"),
    )  # fmt: skip
    (project / "tamper.ipynb").write_text(json.dumps(tampered), encoding="utf-8")
    run = service.run("tamper.ipynb")
    assert run.status == "succeeded", run.error
    reads = service.store.lineage.of_run(run.id)
    assert [read["name"] for read in reads] == ["kept"]
    assert (
        reads[0]["sha256"] == hashlib.sha256((project / "customers.csv").read_bytes()).hexdigest()
    )

"""The artifact store: the local folder (default) and any fsspec URL, S3 on moto's real server.

Given a moto S3 server process on 127.0.0.1 (fake credentials in the environment, the way
s3fs tests itself), when runs write artifacts to ``s3://bucket/prefix``, then every blob is
stored once under its sha256, another process with an empty cache reads them back (the
output notebook, a deployment's bound values), and a corrupted object is refused by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_notebook

from jupyter_mlops.errors import StoreError
from jupyter_mlops.service import MLOps
from jupyter_mlops.store.artifacts import BlobStore
from jupyter_mlops.store.remote_artifacts import CorruptBlobError, RemoteBlobStore, open_blobs

SCORE = make_notebook(
    ("x: float = 1.0", "parameters"),
    ("weights = [0.5, 2.0]\nbias = 0.25", "mlops:fn:train"),
    ("score = float(weights[1] * x + bias)", "mlops:fn:predict"),
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A moto S3 server process; its endpoint and fake credentials in this environment."""
    port = _free_port()
    server = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    saved = {key: os.environ.get(key) for key in _ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="fake-key",
        AWS_SECRET_ACCESS_KEY="fake-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


def _fs():  # type: ignore[no-untyped-def]
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem()


def _bucket(name: str) -> str:
    fs = _fs()
    if not fs.exists(name):
        fs.mkdir(name)
    return name


# -- local folder (the default) -----------------------------------------------------------


def test_a_local_url_or_none_is_todays_folder(tmp_path: Path) -> None:
    assert isinstance(open_blobs(None, tmp_path), BlobStore)
    blobs = open_blobs(f"file://{tmp_path / 'shared'}", tmp_path / "cache")
    assert isinstance(blobs, BlobStore)
    sha, size = blobs.put_bytes(b"abc")
    assert (tmp_path / "shared" / sha[:2] / sha).read_bytes() == b"abc"
    assert (sha, size) == (hashlib.sha256(b"abc").hexdigest(), 3)


# -- S3 on moto's server ------------------------------------------------------------------


def test_s3_blobs_are_stored_once_streamed_and_hash_checked(s3: str, tmp_path: Path) -> None:
    bucket = _bucket("blobs")
    big = tmp_path / "big.bin"
    with open(big, "wb") as out:
        for index in range(12):  # 12 MiB: several chunks
            out.write(bytes([index]) * (1024 * 1024))
    store = RemoteBlobStore(f"s3://{bucket}/team", tmp_path / "cache")
    sha, size = store.put_file(big)
    assert size == 12 * 1024 * 1024
    assert sha == hashlib.sha256(big.read_bytes()).hexdigest()
    assert store.put_file(big) == (sha, size)  # de-duplicated: nothing uploaded again
    assert _fs().find(f"{bucket}/team") == [f"{bucket}/team/{sha[:2]}/{sha}"]

    reader = RemoteBlobStore(f"s3://{bucket}/team", tmp_path / "other-cache")
    assert reader.fetch(sha, "artifact big").read_bytes() == big.read_bytes()

    bad_sha, _ = store.put_bytes(b"original bytes")
    _fs().pipe_file(f"{bucket}/team/{bad_sha[:2]}/{bad_sha}", b"tampered bytes")
    fresh = RemoteBlobStore(f"s3://{bucket}/team", tmp_path / "third-cache")
    with pytest.raises(CorruptBlobError, match=r"artifact small .* corrupted"):
        fresh.fetch(bad_sha, "artifact small")
    assert not fresh.path(bad_sha).exists()  # nothing bad stays in the cache


def test_runs_write_to_s3_and_another_process_reads_and_deploys_from_it(
    s3: str, tmp_path: Path
) -> None:
    bucket = _bucket("team-bucket")
    url = f"s3://{bucket}/mlops"
    root = tmp_path / "project"
    root.mkdir()
    (root / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    writer = MLOps(root_dir=str(root), artifact_url=url, artifacts_dir=str(tmp_path / "a"))
    try:
        run = writer.run("score.ipynb")
        assert run.status == "succeeded"
    finally:
        writer.close()
    keys = set(_fs().find(f"{bucket}/mlops"))
    assert {f"{bucket}/mlops/{a.sha256[:2]}/{a.sha256}" for a in run.artifacts} == keys
    assert {a.name for a in run.artifacts} >= {"output.ipynb", "train/weights", "train/bias"}

    # another process's view: the same store, an empty local cache
    reader = MLOps(root_dir=str(root), artifact_url=url, artifacts_dir=str(tmp_path / "b"))
    try:
        assert run.output_notebook is not None
        with reader.store.open_artifact(run.output_notebook) as handle:
            notebook = json.load(handle)
        assert any("score" in "".join(c["source"]) for c in notebook["cells"])
        deployment, token = reader.deployments.deploy(
            "score.ipynb", "predict", name="from-s3", options={"monitor_interval": 0.3}
        )
        try:
            assert {entry["run"] for entry in deployment.binding} == {run.id}
            from test_deploy import call

            assert call(deployment.url, {"x": 2.0}, token) == (200, {"score": 4.25})
        finally:
            reader.deployments.stop("from-s3")

        # a corrupted object: a clear error naming the artifact, in a third process's view
        weights = next(a for a in run.artifacts if a.name == "train/weights")
        _fs().pipe_file(f"{bucket}/mlops/{weights.sha256[:2]}/{weights.sha256}", b"junk")
    finally:
        reader.close()
    third = MLOps(root_dir=str(root), artifact_url=url, artifacts_dir=str(tmp_path / "c"))
    try:
        with pytest.raises(StoreError, match=f"artifact {weights.id}.*train/weights.*corrupted"):
            third.store.artifact_path(weights.id)
    finally:
        third.close()


def test_a_cli_process_configured_for_s3_writes_there_and_another_reads(
    s3: str, tmp_path: Path
) -> None:
    """``c.MLOps.artifact_url`` from the project's config file, in a real CLI process."""
    bucket = _bucket("cli-bucket")
    root = tmp_path / "project"
    root.mkdir()
    (root / "score.ipynb").write_text(json.dumps(SCORE), encoding="utf-8")
    config = {"MLOps": {"artifact_url": f"s3://{bucket}/p"}}
    (root / "jupyter_mlops_config.json").write_text(json.dumps(config), encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "--root", str(root), "run", "score.ipynb",
         "--function", "train", "--json"],
        capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    stored = set(_fs().find(f"{bucket}/p"))
    assert {f"{bucket}/p/{a['sha256'][:2]}/{a['sha256']}" for a in run["artifacts"]} == stored
    local = root / ".mlops" / "artifacts"
    assert not any(path.is_file() and len(path.name) == 64 for path in local.rglob("*"))
    from jupyter_mlops.project import load_project

    project = load_project(
        overrides={"root_dir": str(root), "artifacts_dir": str(tmp_path / "elsewhere")},
        source="test",
    )  # as a surface loads it: the project's config file included
    reader = MLOps(project=project)
    try:
        assert reader.artifact_url == f"s3://{bucket}/p"  # read from the project's config
        weights = next(a for a in run["artifacts"] if a["name"] == "train/weights")
        assert reader.store.artifact_path(weights["id"]).stat().st_size == weights["size"]
    finally:
        reader.close()


# -- Dask workers and the shared store ----------------------------------------------------

BIG = make_notebook(
    ("n: int = 20000", "parameters"),
    ("big = list(range(n))", "mlops:fn:make"),
    ("total = float(sum(big))", ["mlops:fn:add", "mlops:metrics"]),
)  # fmt: skip


def test_pack_sends_large_files_by_hash_and_small_ones_as_bytes(s3: str, tmp_path: Path) -> None:
    from jupyter_mlops.execute.dask_blobs import DIRECT_BYTES, pack, shared_blobs, unpack

    folder = tmp_path / "run"
    (folder / "inputs").mkdir(parents=True)
    (folder / "inputs" / "large.bin").write_bytes(b"x" * DIRECT_BYTES)
    (folder / "small.json").write_text("{}")
    url = f"s3://{_bucket('pack-bucket')}/p"
    blobs = shared_blobs(url, tmp_path / "cache")
    assert blobs is not None
    assert shared_blobs(None, tmp_path / "cache") is None  # the local folder: no direct path
    files, refs = pack(folder, blobs)
    assert files == {"small.json": b"{}"}
    sha = hashlib.sha256(b"x" * DIRECT_BYTES).hexdigest()
    assert refs == {"inputs/large.bin": (sha, DIRECT_BYTES)}
    assert _fs().find("pack-bucket/p") == [f"pack-bucket/p/{sha[:2]}/{sha}"]
    elsewhere = tmp_path / "worker"
    unpack(refs, elsewhere, shared_blobs(url, tmp_path / "worker-cache"))
    assert (elsewhere / "inputs" / "large.bin").read_bytes() == b"x" * DIRECT_BYTES
    with pytest.raises(ValueError, match="outside the run's folder"):
        unpack({"../escape": (sha, 1)}, elsewhere, blobs)


@pytest.mark.kernel
def test_dask_workers_read_inputs_from_and_write_outputs_to_the_shared_store(
    s3: str, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    from test_dask_executor import Cluster

    bucket = _bucket("dask-bucket")
    root = tmp_path / "project"
    root.mkdir()
    (root / "big.ipynb").write_text(json.dumps(BIG), encoding="utf-8")
    config = {"MLOps": {"artifact_url": f"s3://{bucket}/team"}}
    (root / "jupyter_mlops_config.json").write_text(json.dumps(config), encoding="utf-8")
    base = tmp_path / "cluster"
    base.mkdir()
    cluster = Cluster(base, 1)  # workers inherit the S3 endpoint and fake credentials
    try:

        def cli(*words: str) -> dict:  # type: ignore[type-arg]
            done = subprocess.run(
                [sys.executable, "-m", "jupyter_mlops.cli", *words, "--executor", "dask",
                 "--scheduler", cluster.address, "--json"],
                cwd=root, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            return dict(json.loads(done.stdout))

        made = cli("run", "big.ipynb", "--function", "make")
        added = cli("run", "big.ipynb", "--function", "add", "--from", made["id"])
    finally:
        cluster.stop()
    assert added["status"] == "succeeded", added.get("error")
    assert added["metrics"]["total"] == float(sum(range(20000)))
    service = MLOps(root_dir=str(root))
    try:
        big = next(a for a in service.store.get_run(made["id"]).artifacts if a.name == "make/big")
    finally:
        service.close()
    assert big.size >= 64 * 1024
    assert f"{bucket}/team/{big.sha256[:2]}/{big.sha256}" in _fs().find(f"{bucket}/team")
    # The input reached the worker through the store: its cache holds the blob, by hash
    cached = list((base / "w0").rglob(f"mlops-artifacts/{big.sha256[:2]}/{big.sha256}"))
    assert len(cached) == 1

"""The one task a Dask worker executes per run, and the payload that travels with it.

No shared filesystem is assumed: the submitting process packs what the run needs (the
user's notebook as bytes, the notebook papermill executes, parameters, staged input files)
into a :class:`Payload`; the worker unpacks it into a temporary folder of its own, runs it
with the same ``launch`` a local run uses, and sends back every file the run wrote into its
private folder (output notebook, logged metrics and artifacts, saved values) as bytes. The
submitter writes them into the run's local folder, where ``Runner._ingest`` records them
exactly as a local run's.

Paths that the runner put into parameters (the data folder, the files values are saved to)
name the submitter's folder; the worker replaces that prefix with its own.

Coordination through the scheduler, per run (keyed by the run id): the scheduler's
metadata holds the attempt count and the worker of the current attempt,
so the submitter can record the worker and a second attempt after a lost worker is refused
(``worker lost``) unless retries were asked for; the Event is the cancel flag the task polls,
a ``distributed`` Event, upon which it kills the run's kernel tree (``ExecutionControl.cancel``).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dask_blobs import CACHE, Ref, pack, shared_blobs, unpack

if TYPE_CHECKING:
    from ..store.remote_artifacts import RemoteBlobStore
    from .runner import RunRequest

logger = logging.getLogger(__name__)

USER_NOTEBOOK = "notebook.ipynb"  # the user's notebook, as sent (cells are named from it)
CWD = "cwd"  # the run's working directory inside the worker's folder
_POLL_SECONDS = 0.5


def distributed() -> Any:
    """``dask.distributed``, untyped (it ships no annotations mypy could check)."""
    import importlib

    return importlib.import_module("distributed")


def state_key(run_id: str) -> list[str]:
    """Where the run's attempts and worker are kept in the scheduler's metadata."""
    return ["jupyter-mlops", run_id]


def cancel_name(run_id: str) -> str:
    return f"mlops-cancel-{run_id}"


@dataclass
class Payload:
    """Everything a run needs on a worker; pickled by Dask (no path of the submitter's read)."""

    run_id: str
    request: RunRequest  # its ``notebook`` path is replaced on the worker
    notebook_bytes: bytes  # the user's notebook
    executed: Any  # None: the user's notebook itself; else a generated notebook (nbformat)
    parameters: dict[str, Any]
    collect: list[str]
    save: dict[str, str]
    folder: str  # the submitter's private folder of the run: a prefix to replace
    default_engine: str
    files: dict[str, bytes] = field(default_factory=dict)  # relative to ``folder``
    timeout: float | None = None  # seconds left of the run's limit
    retries: int = 0
    artifact_url: str | None = None  # a shared artifact store: large files go through it
    refs: dict[str, Ref] = field(default_factory=dict)  # large inputs there, by sha256


@dataclass
class Outcome:
    """What comes back: the status, the error, the files written, the worker."""

    status: str
    error: dict[str, Any] | None
    worker: str
    files: dict[str, bytes] = field(default_factory=dict)
    lost: str | None = None  # a previous attempt's worker, lost mid-run (nothing ran now)
    refs: dict[str, Ref] = field(default_factory=dict)  # large files put in the artifact store


def unpack_folder(files: dict[str, bytes], folder: Path) -> None:
    for relative, data in files.items():
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise ValueError(f"refusing a returned file outside the run's folder: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _moved(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str) and (value == old or value.startswith(old + "/")):
        return new + value[len(old) :]
    return value


def run_task(payload: Payload) -> Outcome:
    """Executed on a Dask worker: one run, from a clean temporary folder of the worker's."""
    dist = distributed()
    worker = dist.get_worker()
    client = dist.get_client()
    key = state_key(payload.run_id)
    previous: dict[str, Any] | None = client.get_metadata(key, None)
    attempt = (previous or {}).get("attempt", 0) + 1
    client.set_metadata(key, {"attempt": attempt, "worker": worker.address})
    if previous is not None and attempt > payload.retries + 1:
        # The scheduler re-ran the task because the worker of an earlier attempt died.
        return Outcome("failed", None, worker.address, lost=str(previous.get("worker")))
    cancel = dist.Event(cancel_name(payload.run_id), client=client)
    if cancel.is_set():
        return Outcome(
            "cancelled",
            {"cell": None, "ename": "RunCancelled", "evalue": "cancelled"},
            worker.address,
        )
    base = Path(worker.local_directory) if worker.local_directory else None
    blobs = shared_blobs(payload.artifact_url, (base or Path(tempfile.gettempdir())) / CACHE)
    with tempfile.TemporaryDirectory(prefix="mlops-run-", dir=base) as tmp:
        folder = Path(tmp)
        return _run_in(payload, folder, cancel, worker.address, blobs)


def _run_in(
    payload: Payload, folder: Path, cancel: Any, address: str, blobs: RemoteBlobStore | None
) -> Outcome:
    from .engine import ExecutionControl
    from .launch import launch

    unpack_folder(payload.files, folder)
    unpack(payload.refs, folder, blobs)
    user_notebook = folder / USER_NOTEBOOK
    user_notebook.write_bytes(payload.notebook_bytes)
    cwd = folder / CWD
    cwd.mkdir()
    old = payload.folder
    parameters = {key: _moved(value, old, str(folder)) for key, value in payload.parameters.items()}
    save = {key: str(_moved(value, old, str(folder))) for key, value in payload.save.items()}
    for path in save.values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    request: RunRequest = replace(payload.request, notebook=user_notebook, cwd=cwd)
    executed = str(user_notebook) if payload.executed is None else payload.executed
    control = ExecutionControl()
    if payload.timeout:
        control.deadline = time.monotonic() + payload.timeout
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            try:
                if cancel.wait(timeout=_POLL_SECONDS):
                    control.cancel()  # kills the run's kernel tree
                    return
            except Exception:  # the scheduler is gone: the run goes on, its result may not
                time.sleep(_POLL_SECONDS)

    watcher = threading.Thread(target=watch, name=f"mlops-cancel-{payload.run_id[:8]}")
    watcher.daemon = True
    watcher.start()
    try:
        status, error = launch(
            request,
            executed,
            parameters,
            folder,
            control,
            default_engine=payload.default_engine,
            collect=payload.collect,
            save=save,
        )
    finally:
        finished.set()
        control.detach()
    # Everything the run wrote; the staged inputs (the submitter has them) are left out
    sent = set(payload.files) | set(payload.refs)
    files, refs = pack(folder, blobs, skip=(USER_NOTEBOOK, CWD + "/"), sent=sent)
    return Outcome(status, error, address, files, refs=refs)

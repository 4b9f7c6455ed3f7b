"""The artifacts of runs, a part of :class:`~jupyter_mlops.store.store.Store` (mixed into it).

Artifact bytes are written before (and outside) the transaction that records them, so the
write lock is never held during a long copy and a row never points at a missing blob.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import select

from ..errors import StoreError
from . import checks
from .ingest import artifact_rows, stored_blobs
from .lookup import resolve
from .models import ArtifactRow, RunRow
from .records import Artifact
from .remote_artifacts import RemoteBlobStore

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .artifacts import BlobStore
    from .database import Database


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ArtifactMethods:
    """Store, find and open the artifacts of runs (content-addressed blobs + rows)."""

    if TYPE_CHECKING:  # what the Store gives this part of it
        _db: Database
        _blobs: BlobStore | RemoteBlobStore

        def _active_row(
            self, session: Session, run_id: str, action: str, lock: bool = True
        ) -> RunRow: ...

        def _artifact(self, row: ArtifactRow) -> Artifact: ...

    def add_artifact(
        self,
        run_id: str,
        name: str,
        kind: str,
        *,
        path: str | Path | None = None,
        data: bytes | None = None,
    ) -> Artifact:
        """Store a file (streamed and hashed) or bytes as an artifact of a run.

        The same name twice for one run replaces the earlier artifact (with a new id).
        """
        if (path is None) == (data is None):
            raise StoreError(f"artifact {name!r}: give exactly one of path or data")
        if path is not None:
            return self.add_artifacts(run_id, [(name, kind, path)])[0]
        checks.text(name, "artifact name", limit=checks.MAX_ARTIFACT_NAME)
        checks.kind(kind, name)
        assert data is not None
        payload = bytes(data)
        full = self._writable_run(run_id)
        blob = stored_blobs(repr(name), full, lambda: [self._blobs.put_bytes(payload)])
        return self._record_artifacts(full, [(name, kind, *blob[0])], None)[0]

    def add_artifacts(
        self,
        run_id: str,
        files: Sequence[tuple[str, str, str | Path]],
        *,
        output_notebook: str | None = None,
    ) -> list[Artifact]:
        """Store files ``(name, kind, path)`` as artifacts of a run, in one go: their bytes
        written side by side, their rows in one transaction (what ending a run writes).

        In order, as ``add_artifact`` one after another would: a name given again replaces
        the earlier artifact. ``output_notebook`` names the one that becomes the run's output
        notebook (``set_output_notebook``).
        """
        for name, kind, _path in files:
            checks.text(name, "artifact name", limit=checks.MAX_ARTIFACT_NAME)
            checks.kind(kind, name)
        full = self._writable_run(run_id)
        for name, _kind, path in files:
            if not Path(path).is_file():
                raise StoreError(f"artifact {name!r} of run {full}: no file at {path}")
        label = ", ".join(repr(name) for name, _kind, _path in files)
        blobs = stored_blobs(label, full, lambda: self._blobs.put_files([f[2] for f in files]))
        entries = [
            (name, kind, *blob) for (name, kind, _path), blob in zip(files, blobs, strict=True)
        ]
        return self._record_artifacts(full, entries, output_notebook)

    def _writable_run(self, run_id: str) -> str:
        with self._db.read() as session:
            return self._active_row(session, run_id, "add artifacts to", lock=False).id

    def _record_artifacts(
        self, full: str, entries: list[tuple[str, str, str, int]], output_notebook: str | None
    ) -> list[Artifact]:
        with self._db.write() as session:
            run = self._active_row(session, full, "add artifacts to")
            rows = artifact_rows(session, run, entries, _now())
            for row in rows:
                if row.name == output_notebook:
                    run.output_notebook = row.id
            session.flush()
            return [self._artifact(row) for row in rows]

    def set_output_notebook(self, run_id: str, artifact_id: str) -> None:
        with self._db.write() as session:
            run = self._active_row(session, run_id, "set the output notebook of")
            run.output_notebook = resolve(
                session,
                ArtifactRow.id,
                artifact_id,
                f"artifact of run {run.id}",
                where=ArtifactRow.run_id == run.id,
            )

    def artifact(self, artifact_id: str) -> Artifact:
        with self._db.read() as session:
            full = resolve(session, ArtifactRow.id, artifact_id, "artifact")
            row = session.get(ArtifactRow, full)
            assert row is not None
            return self._artifact(row)

    def artifact_path(self, artifact_id: str) -> Path:
        """The stored file (shared by every artifact with the same bytes; do not modify it)."""
        found = self.artifact(artifact_id)
        if isinstance(self._blobs, RemoteBlobStore):
            label = f"artifact {found.id} ({found.name}) of run {found.run_id}"
            return self._blobs.fetch(found.sha256, label)
        if not found.path.is_file():
            raise StoreError(
                f"the bytes of artifact {found.id} ({found.name}) are missing at {found.path}"
            )
        return found.path

    def open_artifact(self, artifact_id: str) -> BinaryIO:
        return open(self.artifact_path(artifact_id), "rb")

    def newest_artifact(
        self, name: str, *, notebook: str | None = None, status: str | None = "succeeded"
    ) -> Artifact | None:
        """The artifact ``name`` of the newest run (with that status) that produced one."""
        query = (
            select(ArtifactRow)
            .join(RunRow, RunRow.id == ArtifactRow.run_id)
            .where(ArtifactRow.name == name)
        )
        if notebook is not None:
            query = query.where(RunRow.notebook == notebook)
        if status is not None:
            query = query.where(RunRow.status == status)
        query = query.order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(1)
        with self._db.read() as session:
            row = session.scalar(query)
            return None if row is None else self._artifact(row)

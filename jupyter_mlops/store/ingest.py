"""Recording artifacts: the bytes first (outside any transaction), then their rows.

Apart from ``store.py`` so that one artifact (``Store.add_artifact``) and all the files a run
leaves (``Store.add_artifacts``, one transaction) are recorded by the same two steps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import StoreError
from .models import ArtifactRow, RunRow


def stored_blobs(
    label: str, run_id: str, write: Callable[[], list[tuple[str, int]]]
) -> list[tuple[str, int]]:
    """Run ``write`` (blob writes: (sha256, size) each); an OSError names the artifacts."""
    try:
        return write()
    except OSError as err:
        raise StoreError(
            f"could not store artifact {label} of run {run_id}: {err.strerror or err}"
        ) from err


def artifact_row(
    session: Session, run: RunRow, name: str, kind: str, sha: str, size: int, now: datetime
) -> ArtifactRow:
    """Add the row of artifact ``name``; one of the same name is replaced (the output
    notebook pointing at it moves to the new row)."""
    old = session.scalar(
        select(ArtifactRow).where(ArtifactRow.run_id == run.id, ArtifactRow.name == name)
    )
    row = ArtifactRow(
        id=uuid4().hex, run_id=run.id, name=name, kind=kind, sha256=sha, size=size, created_at=now
    )
    if old is not None:
        session.delete(old)
        session.flush()
        if run.output_notebook == old.id:
            run.output_notebook = row.id
    session.add(row)
    session.flush()
    return row

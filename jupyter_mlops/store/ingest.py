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


# Names looked up per query: far below any backend's limit on bound parameters.
_NAMES_PER_QUERY = 500


def artifact_rows(
    session: Session, run: RunRow, entries: list[tuple[str, str, str, int]], now: datetime
) -> list[ArtifactRow]:
    """Add the rows of artifacts ``(name, kind, sha256, size)``, in order; one of the same
    name (stored before, or earlier in ``entries``) is replaced, and the output notebook
    pointing at it moves to the new row.

    The run's existing rows of those names are read in one query, not one per artifact: a
    run of the example notebook leaves 14 artifacts, and a query and a flush each was a
    third of what recording a run costs.
    """
    names = sorted({name for name, _kind, _sha, _size in entries})
    current: dict[str, ArtifactRow] = {}
    for start in range(0, len(names), _NAMES_PER_QUERY):
        chunk = names[start : start + _NAMES_PER_QUERY]
        found = session.scalars(
            select(ArtifactRow).where(ArtifactRow.run_id == run.id, ArtifactRow.name.in_(chunk))
        )
        current.update((row.name, row) for row in found)
    rows: list[ArtifactRow] = []
    for name, kind, sha, size in entries:
        row = ArtifactRow(
            id=uuid4().hex,
            run_id=run.id,
            name=name,
            kind=kind,
            sha256=sha,
            size=size,
            created_at=now,
        )
        old = current.get(name)
        if old is not None:
            if old in session.new:
                session.expunge(old)  # given twice in this call: never written
            else:
                session.delete(old)
                session.flush()  # (run_id, name) is unique: free it before the insert
            if run.output_notebook == old.id:
                run.output_notebook = row.id
        session.add(row)
        current[name] = row
        rows.append(row)
    session.flush()
    return rows

"""Where one deployment keeps its files: ``<state_dir>/deployments/<name>/`` (``project.py``).

A snapshot of the notebook is kept for every version deployed under the name, with the
binding it was served with, so a rollback serves exactly what was served before, whatever
the notebook holds now.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..project import Project
from ..store.private import private_dir


@dataclass(frozen=True)
class DeploymentFiles:
    project: Project
    name: str

    def make(self) -> Path:
        """The deployment's folder, created owner-only (snapshots, logs, samples live in it)."""
        return private_dir(self.folder)

    @property
    def root(self) -> Path:
        """The project root."""
        return Path(self.project.root_dir)

    @property
    def folder(self) -> Path:
        return self.project.deployments_dir / self.name

    def snapshot(self, version: str) -> Path:
        return self.folder / "versions" / f"{version}.ipynb"

    def binding(self, version: str) -> Path:
        return self.folder / "versions" / f"{version}.json"

    @property
    def serve_log(self) -> Path:
        return self.folder / "serve.log"

    @property
    def keeper_log(self) -> Path:
        return self.folder / "keeper.log"

    @property
    def record(self) -> Path:
        return self.folder / "record.json"

    @property
    def monitor(self) -> Path:
        return self.folder / "monitor"

    def save_version(self, version: str, content: dict[str, Any], binding: dict[str, Any]) -> None:
        """Keep the notebook and the binding a version is served with (atomically)."""
        write_atomic(self.snapshot(version), json.dumps(content, ensure_ascii=False, indent=1))
        write_atomic(self.binding(version), json.dumps(binding, indent=1))

    def saved_version(self, version: str) -> tuple[str, str] | None:
        """The snapshot and binding texts kept for ``version`` (to put back: ``restore``)."""
        try:
            return (
                self.snapshot(version).read_text(encoding="utf-8"),
                self.binding(version).read_text(encoding="utf-8"),
            )
        except OSError:
            return None

    def restore_version(self, version: str, saved: tuple[str, str]) -> None:
        write_atomic(self.snapshot(version), saved[0])
        write_atomic(self.binding(version), saved[1])

    def load_binding(self, version: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.binding(version).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def has_version(self, version: str) -> bool:
        return self.snapshot(version).is_file() and self.binding(version).is_file()

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines of the serving log (reads at most ~1 MB from the end)."""
        try:
            with self.serve_log.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 1024 * 1024))
                data = handle.read()
        except FileNotFoundError:
            return []
        text = data.decode("utf-8", errors="replace").splitlines()
        return text[-lines:] if lines > 0 else []

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def write_atomic(path: Path, text: str) -> None:
    private_dir(path.parent)  # mkstemp makes the file itself owner-only
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)

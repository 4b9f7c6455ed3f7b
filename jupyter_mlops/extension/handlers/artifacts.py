"""Download an artifact's bytes (a model, a dataset, an output notebook)."""

from __future__ import annotations

import re

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import MLOpsHandler

CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ArtifactHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, artifact_id: str) -> None:
        self.query({})
        artifact = await self.work.call(self.mlops.store.artifact, artifact_id)
        filename = _UNSAFE.sub("_", artifact.name.replace("/", "-")) or "artifact"
        self.set_header("Content-Type", "application/octet-stream")  # sent by the first flush
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.set_header("Content-Length", str(artifact.size))
        self.set_header("X-Content-SHA256", artifact.sha256)
        handle = await self.work.call(self.mlops.store.open_artifact, artifact.id)
        try:
            while chunk := await self.work.call(handle.read, CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            handle.close()
        self.finish(set_content_type="application/octet-stream")

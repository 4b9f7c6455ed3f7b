"""Lineage and audit routes: what is behind a deployment or function, what is downstream of a
data set, a run's OpenLineage events, and who did what to a function or deployment."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ...lineage_export import store_events
from ...store.audit import audit
from ..bodies import Field
from ..errors import RequestError
from .base import MLOpsHandler

AUDIT_LIMIT = 1000


class LineageHandler(MLOpsHandler):
    """deployment (or function) ← version ← run ← data sets, with hashes."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.query({})
        self.reply(await self.work.call(self.mlops.store.lineage.behind, name))


class DownstreamHandler(MLOpsHandler):
    """Runs, versions and deployments downstream of a data set (``?data=PATH or sha256``)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        data = self.query({"data": Field(str, required=True)})["data"]
        if len(data) != 64 and not os.path.isabs(data):  # a path: from the project root
            data = os.path.join(self.mlops.root_dir, data)
        self.reply(await self.work.call(self.mlops.store.lineage.downstream, data))


class OpenLineageHandler(MLOpsHandler):
    """A run's OpenLineage run events (START, then its end), as a JSON array."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.query({})
        self.reply({"events": await self.work.call(store_events, self.mlops.store, run_id)})


class _Audit(MLOpsHandler):
    async def _reply(self, name: str) -> None:
        limit = self.query({"limit": Field(int)}).get("limit", 100)
        if not 1 <= limit <= AUDIT_LIMIT:
            raise RequestError(f"limit must be within 1..{AUDIT_LIMIT}", field="limit")
        entries: list[dict[str, Any]] = await self.work.call(
            audit, self.mlops.store, name, limit=limit
        )
        self.reply({"name": name, "entries": entries})


class FunctionAuditHandler(_Audit):
    """Alias moves, runs and deployment events of a function, newest first, with actors."""

    @web.authenticated
    @authorized
    async def get(self, function: str) -> None:
        await self._reply(function)


class DeploymentAuditHandler(_Audit):
    """A deployment's events and its function's alias moves and runs, with actors."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await self._reply(name)

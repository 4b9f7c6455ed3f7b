"""``GET /mlops/api/executors``: where runs can execute, for the sidebar's "run on" choice."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import MLOpsHandler


class ExecutorsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.query({})
        self.reply(await self.work.call(self.mlops.executors))

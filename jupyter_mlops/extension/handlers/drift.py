"""``GET /mlops/api/deployments/{name}/drift``: the drift report the CLI prints."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ...drift import MODES
from ..bodies import Field
from ..errors import RequestError
from .base import MLOpsHandler

MAX_WINDOW = 100_000


class DeploymentDriftHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        query = self.query({"window": Field(int), "mode": Field(str)})
        window = query.get("window", 200)
        if not 10 <= window <= MAX_WINDOW:
            raise RequestError(f"window must be within 10..{MAX_WINDOW}", field="window")
        mode = query.get("mode", "calibrated")
        if mode not in MODES:
            raise RequestError(f"mode must be one of {', '.join(MODES)}", field="mode")
        report = await self.work.call(self.mlops.deployments.drift, name, window=window, mode=mode)
        self.reply(report)

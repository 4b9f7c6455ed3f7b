"""Routes about function versions: list with alias history, diff two, move an alias."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..bodies import Field
from .base import MLOpsHandler


class VersionsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, function: str) -> None:
        self.query({})
        versions = await self.work.call(self.mlops.versions, function)
        history = await self.work.call(self.mlops.alias_history, function)
        self.reply(
            {
                "versions": [version.to_dict() for version in versions],
                "history": [move.to_dict() for move in history],
            }
        )


class DiffHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, function: str) -> None:
        query = self.query({"a": Field(str, required=True), "b": Field(str, required=True)})
        old, new, diff = await self.work.call(self.mlops.diff, function, query["a"], query["b"])
        self.reply({"function": old.function, "a": old.version, "b": new.version, "diff": diff})


class AliasHandler(MLOpsHandler):
    """Point an alias (``staging``, ``production``, any name) at a version: a promotion."""

    @web.authenticated
    @authorized
    async def put(self, function: str, alias: str) -> None:
        body = self.body({"version": Field(str, required=True)})
        version = await self.work.call(
            self.mlops.tag, function, body["version"], alias, actor=self.actor
        )
        self.reply(version.to_dict())

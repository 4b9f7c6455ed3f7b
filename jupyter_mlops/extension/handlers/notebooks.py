"""Routes about notebooks: the server's settings, parse live content, check parameters."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..bodies import Field
from .base import MLOpsHandler, requires

NOTEBOOK_FIELDS = {"path": Field(str, required=True), "content": Field(dict)}


class InfoHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from ... import __version__

        self.reply(
            {
                "version": __version__,
                "engine": self.mlops.engine,
                "targets": self.mlops.targets(),
                "max_body_bytes": self.settings["mlops_max_body_bytes"],
            }
        )


class ParseHandler(MLOpsHandler):
    """The Plan of a notebook as the editor holds it (unsaved edits included)."""

    @web.authenticated
    @requires("read")
    async def post(self) -> None:
        body = self.body(NOTEBOOK_FIELDS)
        described = await self.work.call(
            self.mlops.describe, body["path"], content=body.get("content")
        )
        self.reply(described)


class CheckHandler(MLOpsHandler):
    """Parameter values checked as a run would check them; nothing runs."""

    @web.authenticated
    @requires("read")
    async def post(self) -> None:
        body = self.body(
            {
                **NOTEBOOK_FIELDS,
                "function": Field(str),
                "parameters": Field(dict, required=True, items=str),
            }
        )
        checked = await self.work.call(
            self.mlops.check,
            body["path"],
            body["parameters"],
            content=body.get("content"),
            function=body.get("function"),
            as_text=True,
        )
        self.reply({"parameters": checked})

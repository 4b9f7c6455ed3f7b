"""Routes about notebooks: the server's settings, parse live content, check parameters."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..bodies import Field
from ..errors import RequestError
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


class _ParsingHandler(MLOpsHandler):
    """A route that parses posted notebook content: the notebook is parsed on the parse
    threads (``tasks.py``, as is a large body's decoding: ``base.py``), never on the event
    loop or the threads other routes use, and a body over ``max_parse_bytes`` is refused
    before either."""

    async def prepare(self) -> None:  # type: ignore[override]
        limit: int = self.settings["mlops_max_parse_bytes"]
        if len(self.request.body) > limit:
            raise RequestError(
                f"the notebook sent is {len(self.request.body)} bytes; at most {limit} are "
                "parsed (MLOpsExtension.max_parse_bytes; outputs count: clear them)",
                status=413,
            )
        await super().prepare()


class ParseHandler(_ParsingHandler):
    """The Plan of a notebook as the editor holds it (unsaved edits included)."""

    @web.authenticated
    @requires("read")
    async def post(self) -> None:
        body = self.body(NOTEBOOK_FIELDS)
        described = await self.work.parse(
            self.mlops.describe, body["path"], content=body.get("content")
        )
        self.reply(described)


class CheckHandler(_ParsingHandler):
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
        checked = await self.work.parse(
            self.mlops.check,
            body["path"],
            body["parameters"],
            content=body.get("content"),
            function=body.get("function"),
            as_text=True,
        )
        self.reply({"parameters": checked})

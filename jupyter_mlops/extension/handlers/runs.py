"""Routes about runs: list (filtered, cursor-paged), start, get, cancel, output notebook."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ...errors import NotFoundError
from ..bodies import Field
from ..errors import RequestError
from .base import MLOpsHandler, requires
from .notebooks import NOTEBOOK_FIELDS

LIST_QUERY = {
    "notebook": Field(str),
    "function": Field(str),
    "status": Field(str),
    "sweep": Field(str),
    "executor": Field(str),
    "order_by": Field(str),
    "order": Field(str),
    "limit": Field(int),
    "cursor": Field(str),
}

RUN_FIELDS = {
    **NOTEBOOK_FIELDS,
    "function": Field(str),
    "parameters": Field(dict, items=str),
    "from_run": Field(str),
    "idempotency_key": Field(str),
    "timeout": Field(float),
    "engine": Field(str),
    "kernel": Field(str),
    "executor": Field(str),
}

# The rendered output notebook: styles and images inline, no script, no network, framed
# only by JupyterLab itself.
HTML_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'"
)


class RunsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query(LIST_QUERY)
        order = query.pop("order", "desc")
        if order not in ("asc", "desc"):
            raise RequestError(f"order must be asc or desc, not {order!r}", field="order")
        page = await self.work.call(self.mlops.runs, descending=order == "desc", **query)
        self.reply({"runs": [run.to_dict() for run in page.runs], "next_cursor": page.next_cursor})

    @web.authenticated
    @requires("execute")
    async def post(self) -> None:
        body = self.body(RUN_FIELDS)
        if body.get("timeout") is not None and body["timeout"] <= 0:
            raise RequestError(
                "field 'timeout' must be a positive number of seconds", field="timeout"
            )
        request = await self.work.call(
            self.mlops.prepare_run,
            body.pop("path"),
            parameters=body.pop("parameters", {}),
            as_text=True,
            actor=self.actor,
            **body,
        )
        assert request.run_id is not None
        run = await self.work.call(self.mlops.show, request.run_id)
        if run.status == "queued":  # not an earlier run found by its idempotency key
            self.work.submit_run(request)
        self.reply(run.to_dict(), status=202)


class RunHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        run = await self.work.call(self.mlops.show, run_id)
        self.reply(run.to_dict())


class CancelHandler(MLOpsHandler):
    @web.authenticated
    @requires("execute")
    async def post(self, run_id: str) -> None:
        self.body({})
        run = await self.work.call(self.mlops.cancel, run_id)
        self.reply(run.to_dict())


class OutputNotebookHandler(MLOpsHandler):
    """The run's output notebook, as nbformat JSON or rendered to a static HTML page."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        format_ = self.query({"format": Field(str)}).get("format", "ipynb")
        if format_ not in ("ipynb", "html"):
            raise RequestError(f"format must be ipynb or html, not {format_!r}", field="format")
        run = await self.work.call(self.mlops.show, run_id)
        if run.output_notebook is None:
            raise NotFoundError(f"run {run.id} has no output notebook (status {run.status})")
        data = await self.work.call(_read_artifact, self.mlops, run.output_notebook)
        if format_ == "ipynb":
            self.finish(data, set_content_type="application/x-ipynb+json")
            return
        html = await self.work.call(_render_html, data, f"{run.notebook} · run {run.id[:8]}")
        self.set_header("Content-Security-Policy", HTML_POLICY)
        self.finish(html, set_content_type="text/html; charset=utf-8")


def _read_artifact(service: Any, artifact_id: str) -> bytes:
    with service.store.open_artifact(artifact_id) as handle:
        data: bytes = handle.read()
        return data


def _render_html(data: bytes, title: str) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.reads(data.decode("utf-8"), as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(template_name="lab", embed_images=True)  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return str(body)

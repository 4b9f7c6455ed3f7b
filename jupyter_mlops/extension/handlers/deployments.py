"""Routes about deployments: list, deploy, one in detail, logs, stop, start, roll back, try.

Deploying and the lifecycle calls wait for the deployment's keeper to report (seconds: the
setup code loads), on their own threads so quick calls are never queued behind them.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ...deploy.views import deployment_view
from ..bodies import Field
from ..errors import RequestError
from .base import MLOpsHandler, requires
from .notebooks import NOTEBOOK_FIELDS

DEPLOY_FIELDS = {
    **NOTEBOOK_FIELDS,
    "function": Field(str, required=True),
    "name": Field(str),
    "version": Field(str),
    "alias": Field(str),
    "follow": Field(str),  # the alias to serve and follow (what "alias" does too)
    "from_run": Field(str),
    "port": Field(int),
    "new_token": Field(bool),
    "replace": Field(bool),
}
INVOKE_FIELDS = {"token": Field(str, required=True), "payload": Field(object, required=True)}


class DeploymentsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.query({})
        views = await self.work.call(_views, self.mlops)
        self.reply({"deployments": views})

    @web.authenticated
    @requires("execute")
    async def post(self) -> None:
        body = self.body(DEPLOY_FIELDS)
        if "follow" in body:  # the CLI's --follow: the alias recorded and followed
            if "alias" in body:
                raise RequestError("give 'alias' or 'follow', not both", field="follow")
            body["alias"] = body.pop("follow")
        port = body.get("port", 0)
        if not 0 <= port <= 65535:
            raise RequestError(f"field 'port' must be within 0..65535, not {port}", field="port")
        deployment, token = await self.work.lifecycle(
            self.mlops.deployments.deploy,
            body.pop("path"),
            body.pop("function"),
            content=body.pop("content", None),
            actor=self.actor,
            **body,
        )
        view = await self.work.call(deployment_view, self.mlops.deployments, deployment)
        self.reply({"deployment": view, "token": token}, status=201)


class DeploymentHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        query = self.query({"windows": Field(int), "samples": Field(int)})
        for key in ("windows", "samples"):
            if not 1 <= query.get(key, 1) <= 5000:
                raise RequestError(f"{key} must be within 1..5000", field=key)
        data = await self.work.call(
            _detail, self.mlops, name, query.get("windows", 60), query.get("samples", 20)
        )
        self.reply(data)


class DeploymentLogsHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        lines = self.query({"lines": Field(int)}).get("lines", 200)
        if not 1 <= lines <= 10000:
            raise RequestError("lines must be within 1..10000", field="lines")
        self.reply({"lines": await self.work.call(self.mlops.deployments.logs, name, lines)})


class DeploymentStopHandler(MLOpsHandler):
    @web.authenticated
    @requires("execute")
    async def post(self, name: str) -> None:
        self.body({})
        deployment = await self.work.lifecycle(self.mlops.deployments.stop, name, actor=self.actor)
        view = await self.work.call(deployment_view, self.mlops.deployments, deployment)
        self.reply({"deployment": view})


class DeploymentStartHandler(MLOpsHandler):
    @web.authenticated
    @requires("execute")
    async def post(self, name: str) -> None:
        self.body({})
        deployment = await self.work.lifecycle(self.mlops.deployments.start, name, actor=self.actor)
        view = await self.work.call(deployment_view, self.mlops.deployments, deployment)
        self.reply({"deployment": view})


class DeploymentRollbackHandler(MLOpsHandler):
    @web.authenticated
    @requires("execute")
    async def post(self, name: str) -> None:
        body = self.body({"to": Field(str)})
        deployment = await self.work.lifecycle(
            self.mlops.deployments.rollback, name, body.get("to"), actor=self.actor
        )
        view = await self.work.call(deployment_view, self.mlops.deployments, deployment)
        self.reply({"deployment": view})


class DeploymentInvokeHandler(MLOpsHandler):
    """One request to the endpoint with the caller's token: the sidebar's try-it form."""

    @web.authenticated
    @requires("execute")
    async def post(self, name: str) -> None:
        body = self.body(INVOKE_FIELDS)
        if not isinstance(body.get("payload"), (dict, list)):
            raise RequestError(
                "field 'payload' must be a JSON object (or a list of them)", field="payload"
            )
        result = await self.work.lifecycle(
            self.mlops.deployments.invoke, name, body["token"], body["payload"]
        )
        self.reply(result)


def _views(service: Any) -> list[dict[str, Any]]:
    deployments = service.deployments
    return [deployment_view(deployments, d) for d in deployments.every()]


def _detail(service: Any, name: str, windows: int, samples: int) -> dict[str, Any]:
    deployments = service.deployments
    rows = service.store.deployments
    deployment = deployments.get(name)
    return {
        "deployment": deployment_view(deployments, deployment),
        "events": [event.to_dict() for event in rows.events(deployment.name)],
        "windows": [window.to_dict() for window in rows.windows(deployment.name, windows)],
        "samples": [sample.to_dict() for sample in rows.samples(deployment.name, samples)],
    }

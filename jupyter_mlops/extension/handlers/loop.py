"""Routes of the loop: promote a run through a gate, the event timeline, policies."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ...store.loop_events import MAX_LIMIT
from ..bodies import Field
from ..errors import RequestError
from .base import MLOpsHandler, requires

POLICY_FIELDS = {
    "notebook": Field(str, required=True),
    "function": Field(str),
    "sweep": Field(str),
    "parameters": Field(dict, items=object),
    "gate": Field(str),
    "live_gate": Field(str),
    "promote": Field(str),
    "approval": Field(str),
    "after": Field(int),
    "within": Field(str),
    "cooldown": Field(str),
    "schedule": Field(str),
    "enabled": Field(bool),
}


class PromoteHandler(MLOpsHandler):
    """Judge a run of the function against the champion behind ``to``; move it if it passes.
    A failed gate is an answer (200, ``passed: false``), not an error."""

    @web.authenticated
    @requires("execute")
    async def post(self, function: str) -> None:
        body = self.body(
            {
                "notebook": Field(str, required=True),
                "to": Field(str, required=True),
                "gate": Field(str),
                "run": Field(str),
            }
        )
        result = await self.work.lifecycle(
            self.mlops.promote,
            body["notebook"],
            function,
            to=body["to"],
            gate=body.get("gate"),
            run=body.get("run"),
            actor=self.actor,
        )
        self.reply(result.to_dict())


class EventsHandler(MLOpsHandler):
    """The loop's timeline: of one deployment or function (``name``), or of everything."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query({"name": Field(str), "limit": Field(int)})
        limit = query.get("limit", 100)
        if not 1 <= limit <= MAX_LIMIT:
            raise RequestError(f"limit must be within 1..{MAX_LIMIT}", field="limit")
        events = await self.work.call(self.mlops.store.events.timeline, query.get("name"), limit)
        self.reply({"events": [event.to_dict() for event in events]})


class PoliciesHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.query({})
        policies = await self.work.call(lambda: self.mlops.policies.every())
        self.reply({"policies": [policy.to_dict() for policy in policies]})


class PolicyHandler(MLOpsHandler):
    """A deployment's retraining policy: read, set (replacing it), remove."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.query({})
        policy = await self.work.call(lambda: self.mlops.policies.get(name))
        self.reply(policy.to_dict())

    @web.authenticated
    @requires("write")
    async def put(self, name: str) -> None:
        body = self.body(POLICY_FIELDS)
        notebook = body.pop("notebook")
        policy = await self.work.call(
            lambda: self.mlops.policies.set(name, notebook=notebook, actor=self.actor, **body)
        )
        self.reply(policy.to_dict())

    @web.authenticated
    @requires("write")
    async def delete(self, name: str) -> None:
        self.body({})
        await self.work.call(lambda: self.mlops.policies.remove(name))
        self.reply({"removed": name})

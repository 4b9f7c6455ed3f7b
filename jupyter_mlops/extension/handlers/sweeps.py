"""Routes about sweeps: start one (every point checked and queued first), get one."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..bodies import Field
from ..errors import RequestError
from .base import MLOpsHandler, requires
from .notebooks import NOTEBOOK_FIELDS

SWEEP_FIELDS = {
    **NOTEBOOK_FIELDS,
    "function": Field(str),
    "space": Field(dict, required=True, items=list),
    "fixed": Field(dict, items=str),
    "strategy": Field(str),
    "max_runs": Field(int),
    "seed": Field(int),
    "parallel": Field(int),
    "select": Field(str),
    "fail_fast": Field(bool),
    "from_run": Field(str),
    "engine": Field(str),
    "kernel": Field(str),
}


class SweepsHandler(MLOpsHandler):
    @web.authenticated
    @requires("execute")
    async def post(self) -> None:
        from ...execute.sweep import check_parallel

        body = self.body(SWEEP_FIELDS)
        for name, values in body["space"].items():
            if not values or not all(isinstance(value, str) for value in values):
                raise RequestError(
                    f"field 'space': {name!r} must be a non-empty array of strings "
                    "(values as text, as on the command line)",
                    field="space",
                )
        parallel = check_parallel(body.pop("parallel", 1))
        fail_fast = body.pop("fail_fast", False)
        job = await self.work.call(
            self.mlops.prepare_sweep,
            body.pop("path"),
            body.pop("space"),
            as_text=True,
            actor=self.actor,
            **body,
        )
        self.work.submit_sweep(job, parallel=parallel, fail_fast=fail_fast)
        self.reply(_sweep_json(job.sweep.to_dict(), job.run_ids), status=202)


class SweepHandler(MLOpsHandler):
    @web.authenticated
    @authorized
    async def get(self, sweep_id: str) -> None:
        sweep = await self.work.call(self.mlops.store.get_sweep, sweep_id)
        page = await self.work.call(self.mlops.runs, sweep=sweep.id, limit=1000)
        run_ids = [run.id for run in reversed(page.runs)]  # newest first → point order
        self.reply(_sweep_json(sweep.to_dict(), run_ids))


def _sweep_json(sweep: dict[str, Any], run_ids: list[str]) -> dict[str, Any]:
    return {**sweep, "runs": run_ids}

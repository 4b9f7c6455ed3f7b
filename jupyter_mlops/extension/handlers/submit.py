"""``POST /mlops/api/submit``: a notebook to Kubeflow Pipelines, recorded and followed.

The run is started on the server's configured KFP host (``c.KfpExecutor.host``, else
``KF_PIPELINES_ENDPOINT``) with the server process's KFP credentials (``KF_PIPELINES_TOKEN``,
kfp's context file); a thread of this server then follows it into the store until it ends
(``KfpExecutor``). A request cannot name another host: the credentials go to that one only.
"""

from __future__ import annotations

from tornado import web

from ..bodies import Field
from .base import MLOpsHandler, requires
from .notebooks import NOTEBOOK_FIELDS

SUBMIT_FIELDS = {
    "path": NOTEBOOK_FIELDS["path"],
    "parameters": Field(dict, items=str),
    "experiment": Field(str),
}


class SubmitHandler(MLOpsHandler):
    @web.authenticated
    @requires("execute")
    async def post(self) -> None:
        body = self.body(SUBMIT_FIELDS)
        run = await self.work.call(
            self.mlops.submit,
            body["path"],
            body.get("parameters", {}),
            as_text=True,
            experiment=body.get("experiment"),
            actor=self.actor,
        )
        self.mlops.kfp_executor().follow_in_background(run)
        self.reply(run.to_dict(), status=202)

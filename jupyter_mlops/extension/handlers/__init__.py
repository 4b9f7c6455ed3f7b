"""The routes, in one table: a test checks each is in docs/openapi.yaml and authenticated."""

from __future__ import annotations

from .artifacts import ArtifactHandler
from .base import MLOpsHandler
from .deployments import (
    DeploymentHandler,
    DeploymentInvokeHandler,
    DeploymentLogsHandler,
    DeploymentRollbackHandler,
    DeploymentsHandler,
    DeploymentStartHandler,
    DeploymentStopHandler,
)
from .drift import DeploymentDriftHandler
from .executors import ExecutorsHandler
from .lineage import (
    DeploymentAuditHandler,
    DownstreamHandler,
    FunctionAuditHandler,
    LineageHandler,
    OpenLineageHandler,
)
from .loop import EventsHandler, PoliciesHandler, PolicyHandler, PromoteHandler
from .notebooks import CheckHandler, InfoHandler, ParseHandler
from .runs import CancelHandler, OutputNotebookHandler, RunHandler, RunsHandler
from .submit import SubmitHandler
from .sweeps import SweepHandler, SweepsHandler
from .versions import AliasHandler, DiffHandler, VersionsHandler

API = "mlops/api"
_ID = r"(?P<{}>[0-9A-Za-z-]+)"
_NAME = r"(?P<{}>[^/]+)"
_DEPLOYMENT = f"{API}/deployments/{_NAME.format('name')}"

# (pattern relative to the server's base_url, handler); path arguments by name.
ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    (f"{API}/info", InfoHandler),
    (f"{API}/executors", ExecutorsHandler),
    (f"{API}/parse", ParseHandler),
    (f"{API}/check", CheckHandler),
    (f"{API}/runs", RunsHandler),
    (f"{API}/runs/{_ID.format('run_id')}", RunHandler),
    (f"{API}/runs/{_ID.format('run_id')}/cancel", CancelHandler),
    (f"{API}/runs/{_ID.format('run_id')}/notebook", OutputNotebookHandler),
    (f"{API}/submit", SubmitHandler),
    (f"{API}/sweeps", SweepsHandler),
    (f"{API}/sweeps/{_ID.format('sweep_id')}", SweepHandler),
    (f"{API}/artifacts/{_ID.format('artifact_id')}", ArtifactHandler),
    (f"{API}/functions/{_NAME.format('function')}/versions", VersionsHandler),
    (f"{API}/functions/{_NAME.format('function')}/diff", DiffHandler),
    (f"{API}/functions/{_NAME.format('function')}/aliases/{_NAME.format('alias')}", AliasHandler),
    (f"{API}/functions/{_NAME.format('function')}/promote", PromoteHandler),
    (f"{API}/events", EventsHandler),
    (f"{API}/policies", PoliciesHandler),
    (f"{_DEPLOYMENT}/policy", PolicyHandler),
    (f"{API}/deployments", DeploymentsHandler),
    (_DEPLOYMENT, DeploymentHandler),
    (f"{_DEPLOYMENT}/logs", DeploymentLogsHandler),
    (f"{_DEPLOYMENT}/stop", DeploymentStopHandler),
    (f"{_DEPLOYMENT}/start", DeploymentStartHandler),
    (f"{_DEPLOYMENT}/rollback", DeploymentRollbackHandler),
    (f"{_DEPLOYMENT}/invoke", DeploymentInvokeHandler),
    (f"{_DEPLOYMENT}/drift", DeploymentDriftHandler),
    (f"{_DEPLOYMENT}/audit", DeploymentAuditHandler),
    (f"{API}/functions/{_NAME.format('function')}/audit", FunctionAuditHandler),
    (f"{API}/runs/{_ID.format('run_id')}/openlineage", OpenLineageHandler),
    (f"{API}/lineage", DownstreamHandler),
    (f"{API}/lineage/{_NAME.format('name')}", LineageHandler),
]

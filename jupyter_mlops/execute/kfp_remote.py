"""Talking to a Kubeflow Pipelines API server through ``kfp.Client``: connect, start, read.

Everything that touches the kfp SDK is here, so the executor (``kfp_executor.py``) deals in
plain values. Authentication is the client's own: a token (``--existing-token`` or
``KF_PIPELINES_TOKEN``), cookies, or what kfp finds itself (its context file, in-cluster
credentials). A secret is passed to the client and nowhere else: errors raised here are built
from the host and the server's reply, never from the request (whose headers carry it), and
:class:`KfpAuth` does not print its values.

Metrics: a finished run's ``run_details.task_details[].outputs`` lists, per output, its
artifacts; an artifact reported with ``schema_title: system.Metrics`` and ``metadata`` gives
the metric values. (A KFP server keeps artifact metadata in ML Metadata, and its v2beta1 run
API may list only artifact ids: then the run is recorded without metrics.)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MLOpsError

if TYPE_CHECKING:
    import kfp

logger = logging.getLogger(__name__)

TOKEN_ENV = "KF_PIPELINES_TOKEN"
HOST_ENV = "KF_PIPELINES_ENDPOINT"  # kfp's own variable for the host
RUN_PAGE = "/#/runs/details/"
METRICS_SCHEMA = "system.Metrics"
DESCRIPTION = "a notebook compiled by jupyter-mlops (jupyter mlops submit)"
# KFP runtime states as run statuses (PAUSED and unknown states: still running).
STATUSES = {
    "PENDING": "queued",
    "RUNNING": "running",
    "PAUSED": "running",
    "CANCELING": "running",
    "SUCCEEDED": "succeeded",
    "SKIPPED": "succeeded",
    "FAILED": "failed",
    "CANCELED": "cancelled",
}


class KfpError(MLOpsError):
    """The KFP server could not be reached, refused a request, or the SDK is missing."""


@dataclass(frozen=True)
class KfpAuth:
    """The kfp client's credentials; ``repr`` shows which are set, never their values."""

    token: str | None = field(default=None, repr=False)
    cookies: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, token: str | None = None, cookies: str | None = None) -> KfpAuth:
        return cls(token or os.environ.get(TOKEN_ENV) or None, cookies or None)

    def __repr__(self) -> str:
        given = [name for name in ("token", "cookies") if getattr(self, name)]
        return f"KfpAuth({', '.join(given) or 'nothing'} given)"


@dataclass(frozen=True)
class RemoteState:
    """What the server says about one run."""

    state: str
    status: str  # the run status it maps to
    error: str | None
    metrics: dict[str, float]


def connect(host: str, auth: KfpAuth) -> kfp.Client:
    """A client of ``host`` (checked reachable: the client asks its healthz on creation)."""
    try:
        from kfp import Client
    except ImportError:
        raise KfpError(
            "submitting to Kubeflow Pipelines needs the kfp SDK",
            hint="pip install 'jupyter-mlops[kfp]'",
        ) from None
    if not host.startswith(("http://", "https://")):
        raise KfpError(f"KFP host {host!r} must be an http:// or https:// URL")
    with _quiet(), warnings.catch_warnings():
        # "This client only works with Kubeflow Pipeline v2.0.0-beta.2 and later": said
        # on every creation, whatever the server.
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return Client(host=host.rstrip("/"), existing_token=auth.token, cookies=auth.cookies)
        except Exception as err:
            raise _failure(f"cannot reach the KFP API server at {host}", err) from None


def start(
    client: kfp.Client,
    package: Path,
    arguments: dict[str, Any],
    *,
    experiment: str,
    pipeline: str,
    name: str,
) -> str:
    """Upload the compiled ``package`` as a version of ``pipeline`` and start a run of it in
    ``experiment`` (both made if new); the run's id.

    The version is named by the package's content, so submitting an unchanged notebook again
    runs the version already there, and each change is one new version in the KFP UI.
    """
    version = f"{pipeline}-{hashlib.sha256(package.read_bytes()).hexdigest()[:12]}"
    with _quiet():
        try:
            found = client.create_experiment(name=experiment)
            pipeline_id = client.get_pipeline_id(pipeline)
            if pipeline_id is None:
                pipeline_id = client.upload_pipeline(
                    str(package), pipeline_name=pipeline, description=DESCRIPTION
                ).pipeline_id
            version_id = _version_id(client, package, pipeline_id, version)
            run = client.run_pipeline(
                experiment_id=found.experiment_id,
                job_name=name,
                pipeline_id=pipeline_id,
                version_id=version_id,
                params=arguments,
            )
        except Exception as err:
            raise _failure(f"the KFP server did not start the run of {name}", err) from None
    run_id: str = run.run_id
    return run_id


def _version_id(client: kfp.Client, package: Path, pipeline_id: str, version: str) -> str:
    """The id of the pipeline's version named ``version``, uploaded if it is not there."""
    named = json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "string_value": version}]}
    )
    listed = client.list_pipeline_versions(pipeline_id, filter=named).pipeline_versions or []
    if listed:
        found: str = listed[0].pipeline_version_id
        return found
    uploaded: str = client.upload_pipeline_version(
        str(package), pipeline_version_name=version, pipeline_id=pipeline_id
    ).pipeline_version_id
    return uploaded


def run_url(host: str, run_id: str) -> str:
    """The run's page in the KFP UI (served by the same host as the API)."""
    return f"{host.rstrip('/')}{RUN_PAGE}{run_id}"


def host_of(url: str) -> str | None:
    """The host a run page URL (``run_url``) belongs to."""
    host, found, _ = url.partition(RUN_PAGE)
    return host if found else None


def fetch(client: kfp.Client, run_id: str, *, timeout: float = 10.0) -> RemoteState:
    """The run's state, its error and, once finished, its metrics."""
    # The raw reply: the generated model would drop artifact fields it does not declare.
    api = client._run_api
    try:
        reply = api.run_service_get_run(run_id, _preload_content=False, _request_timeout=timeout)
        body = json.loads(reply.data)
    except Exception as err:
        raise _failure(f"cannot read KFP run {run_id}", err) from None
    state = str(body.get("state") or "RUNTIME_STATE_UNSPECIFIED")
    status = STATUSES.get(state, "running")
    error = (body.get("error") or {}).get("message") or None
    if status == "failed" and error is None:
        error = f"KFP run {run_id} ended {state}"
    metrics = metrics_of(body) if status == "succeeded" else {}
    return RemoteState(state, status, error, metrics)


def metrics_of(run: dict[str, Any]) -> dict[str, float]:
    """Metric values from the Metrics artifacts of a run's tasks (later tasks win a name)."""
    found: dict[str, float] = {}
    for task in (run.get("run_details") or {}).get("task_details") or []:
        for output in (task.get("outputs") or {}).values():
            for artifact in (output or {}).get("artifacts") or []:
                if artifact.get("schema_title") != METRICS_SCHEMA:
                    continue
                for name, value in (artifact.get("metadata") or {}).items():
                    number = _number(value)
                    if number is not None:
                        found[str(name)] = number
    return found


def terminate(client: kfp.Client, run_id: str) -> None:
    with _quiet():
        try:
            client.terminate_run(run_id)
        except Exception as err:
            raise _failure(f"cannot terminate KFP run {run_id}", err) from None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _failure(what: str, err: Exception) -> KfpError:
    """A one-line error from the server's status and reason (never the request's headers)."""
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None)
    body = getattr(err, "body", None)
    if status is not None:
        detail = f"HTTP {status} {reason or ''}".strip()
        message = _server_message(body)
        if message:
            detail += f": {message}"
    else:  # no reply: refused, unknown name, timeout
        detail = type(err).__name__
        cause = getattr(err, "reason", None) or err
        text = str(cause).splitlines()[0] if str(cause) else ""
        detail += f" ({_cut(text)})" if text else ""
    return KfpError(f"{what}: {detail}")


def _server_message(body: Any) -> str | None:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return _cut(body.splitlines()[0])
    message = decoded.get("message") or decoded.get("error") if isinstance(decoded, dict) else None
    return _cut(str(message)) if message else None


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The kfp client prints ("Run details: …"): to the log, not into a command's output."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        if captured.getvalue().strip():
            logger.debug("kfp client: %s", captured.getvalue().strip())

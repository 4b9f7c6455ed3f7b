"""One place that maps exceptions to HTTP statuses and JSON error bodies.

The user's mistakes are 4xx with a message that names the notebook, cell or parameter;
anything else is a 500 whose body carries only an error id, the traceback going to the
server log under that id (never to the client).
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from tornado.web import HTTPError

from ..errors import (
    ConflictError,
    ExecutionError,
    MLOpsError,
    NotFoundError,
    ParameterError,
    StoreUnavailableError,
)
from ..paths import MissingPathError


class RequestError(MLOpsError):
    """A request that does not fit its route: bad JSON, an unknown or wrong-typed field."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def status_of(error: BaseException) -> int:
    """The HTTP status for an exception raised while serving a request."""
    if isinstance(error, HTTPError):
        return error.status_code
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, (NotFoundError, MissingPathError)):
        return 404
    if isinstance(error, (ConflictError, ExecutionError)):
        return 409
    if isinstance(error, StoreUnavailableError):
        return 503  # the server's state, not the request: the reason says what to fix
    if isinstance(error, MLOpsError):
        return 400
    return 500


def error_body(error: BaseException | None, status: int) -> tuple[dict[str, Any], str | None]:
    """The JSON body for an error response, and the error id logged with a 500's traceback."""
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if isinstance(error, MLOpsError):
        body: dict[str, Any] = {"message": str(error), "reason": reason}
        if error.notebook is not None:
            body["notebook"] = error.notebook
        if error.cell is not None:
            body["cell"] = error.cell
        if error.hint:
            body["hint"] = error.hint
        if isinstance(error, ParameterError):
            body["parameter"] = error.parameter
        if isinstance(error, RequestError) and error.field is not None:
            body["field"] = error.field
        return body, None
    if isinstance(error, HTTPError) or (error is None and status < 500):
        message = (error.log_message if isinstance(error, HTTPError) else None) or reason
        return {"message": message, "reason": reason}, None
    error_id = uuid.uuid4().hex[:12]
    return {
        "message": f"internal error {error_id}; the server log has the details",
        "reason": reason,
        "error_id": error_id,
    }, error_id

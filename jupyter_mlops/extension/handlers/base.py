"""The base of every route: authentication, the body limit, JSON in and out, error mapping."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado.web import HTTPError

from ...errors import MLOpsError, StoreUnavailableError
from ..bodies import Field, decode, read_body, read_query
from ..errors import RequestError, error_body, status_of

if TYPE_CHECKING:
    from ...service import MLOps
    from ..app import MLOpsExtension
    from ..tasks import BackgroundWork

log = logging.getLogger(__name__)

Method = TypeVar("Method", bound=Callable[..., Any])

DECODE_ON_LOOP_BYTES = 256 * 1024  # a larger body is decoded on a worker thread


def requires(action: str) -> Callable[[Method], Method]:
    """``@authorized(action)`` with its type kept: "read", "write" or "execute" on "mlops"."""
    return cast("Callable[[Method], Method]", authorized(action))


class MLOpsHandler(ExtensionHandlerMixin, APIHandler):
    """Every route: ``auth_resource`` "mlops"; subclasses decorate each method with
    ``@tornado.web.authenticated`` then ``@authorized`` (``"execute"`` where code runs)."""

    auth_resource = "mlops"
    _decoded: Any = None  # a large body, decoded in prepare(); None: decode when asked

    @property
    def mlops(self) -> MLOps:
        service: MLOps = self.settings["mlops_service"]
        return service

    @property
    def actor(self) -> str | None:
        """The signed-in user (jupyter_server's identity provider): who each change is by."""
        user = self.current_user
        name = getattr(user, "username", None) or getattr(user, "name", None) or user
        return str(name) if name else None

    @property
    def work(self) -> BackgroundWork:
        work: BackgroundWork = self.settings["mlops_work"]
        return work

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        # Only to a signed-in user: the reason names a file on the server.
        if self.current_user and self.settings.get("mlops_store_error") is not None:
            await self._reopen_store()
        limit: int = self.settings["mlops_max_body_bytes"]
        if len(self.request.body) > limit:
            raise RequestError(
                f"the request body is {len(self.request.body)} bytes; the limit is {limit} "
                "(MLOpsExtension.max_body_bytes)",
                status=413,
            )
        if self.current_user and len(self.request.body) > DECODE_ON_LOOP_BYTES:
            # A large body is decoded on the parse threads, not on the event loop (a 64 MB
            # notebook takes a second or more); body() then uses it, or raises its error.
            try:
                self._decoded = await self.work.parse(decode, self.request.body)
            except RequestError as err:
                self._decoded = err

    async def _reopen_store(self) -> None:
        """The config or the store was broken: try again (it may be fixed by now), else 503."""
        app = cast("MLOpsExtension", self.extensionapp)
        opening = asyncio.get_running_loop().run_in_executor(None, app.open_service)
        try:
            await opening
        except StoreUnavailableError as err:
            self.settings["mlops_store_error"] = err
            raise
        # The server's settings are a copy of the extension's: hand on what it opened.
        self.settings.update(
            {"mlops_service": app.service, "mlops_work": app.work, "mlops_store_error": None}
        )
        self.log.info("jupyter_mlops: the store is open now")

    def body(self, fields: Mapping[str, Field]) -> dict[str, Any]:
        if isinstance(self._decoded, RequestError):
            raise self._decoded
        return read_body(self.request.body, fields, self._decoded)

    def query(self, fields: Mapping[str, Field]) -> dict[str, Any]:
        return read_query(self.request.query_arguments, fields)

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        try:
            text = json.dumps(data, allow_nan=False, default=str)
        except ValueError:  # NaN or infinity somewhere: JSON has no such numbers
            text = json.dumps(_finite(data), allow_nan=False, default=str)
        self.finish(text)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # The user's mistakes are answered, not logged as server faults; a 500's traceback
        # is logged by write_error under its error id.
        if isinstance(value, (MLOpsError, HTTPError)):
            self.log.info(
                "%s %s: %d %s", self.request.method, self.request.path, status_of(value), value
            )
        elif typ is None:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        status = status_of(error) if error is not None else status_code
        body, error_id = error_body(error, status)
        if error_id is not None:
            self.log.error(
                "internal error %s on %s %s",
                error_id,
                self.request.method,
                self.request.path,
                exc_info=kwargs.get("exc_info"),
            )
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, default=str))


def _finite(value: Any) -> Any:
    """``value`` with each NaN or infinite float written as a string ("nan", "inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value

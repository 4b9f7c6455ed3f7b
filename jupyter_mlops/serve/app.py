"""The ASGI application of one served function: a plain ASGI callable, no framework.

Routes: ``POST /invoke`` (bearer token), ``GET /openapi.json`` (bearer token) and
``GET /health`` (no token: a supervisor holds only the token's hash). Every client mistake
is answered here with its status and a JSON ``{"error", "message", "field"}``; the function
raising is a 500 with an error id, its traceback only in the log, and the next request is
served as usual. Function calls run in a bounded thread pool so the event loop keeps
answering (health, timeouts) while a call runs. A function whose calls have recently taken
less than ``inline_below`` seconds (1 ms by default) is called on the event loop instead:
the hop to a thread would cost more than the call. A call that gets slower moves the next
ones back to threads; one that hangs on the loop stalls this worker (the timeout cannot
stop it there), which ``/health`` then shows to the supervisor.

Every ``/invoke`` request, answered or refused, is counted in the worker's monitor
(``monitor.py``). ``POST /invoke`` runs in one coroutine from the headers to the answer:
on a fast function the app's own work is a good part of the request's cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..drift.reference import from_dict
from .deadlines import Deadlines
from .inputs import RequestError, RequestSchema, read_body
from .loader import ServedFunction
from .monitor import Recorder
from .openapi import document
from .outputs import UnconvertibleOutputError, encode
from .spec import ServeSpec

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_ROUTES = {"/invoke": ("POST",), "/health": ("GET", "HEAD"), "/openapi.json": ("GET", "HEAD")}
COST_SMOOTHING = 0.2


class ServeApp:
    """``ServeApp(served, spec, token_sha256)`` is an ASGI 3 application."""

    def __init__(self, served: ServedFunction, spec: ServeSpec, token_sha256: str) -> None:
        self.served = served
        self.spec = spec
        self._token_sha256 = token_sha256.lower().encode("ascii")
        function, plan = served.function, served.plan
        self.schema = RequestSchema.of(
            plan, function, use_defaults=spec.use_defaults, max_batch=spec.max_batch
        )
        self._openapi = json.dumps(
            document(plan, function, use_defaults=spec.use_defaults, max_batch=spec.max_batch)
        ).encode("utf-8")
        self._executor = ThreadPoolExecutor(spec.threads, thread_name_prefix="mlops-invoke")
        self.monitor = Recorder(
            spec.monitor_dir,
            function=function.name,
            version=function.version,
            interval=spec.monitor_interval,
            sample_rate=spec.sample_rate,
            max_samples=spec.max_samples,
            max_sample_bytes=spec.max_sample_bytes,
            references={name: from_dict(data) for name, data in spec.references.items()},
            first_served=first_served_file(spec),
        )
        self._body_deadlines = Deadlines(spec.timeout)
        self._accepted: bytes | None = None  # the last Authorization value that passed
        # Seconds a call takes (smoothed). It starts high, so the first calls run in threads.
        self._cost = float("inf") if spec.inline_below > 0 else 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/invoke" and scope["method"] == "POST":
                await self._invoke(scope, receive, send)
            else:
                await self._other(scope, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        # websockets are not served: returning without accepting makes the server refuse them

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                self.monitor.start(loop)
                self._body_deadlines.start(loop)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # uvicorn has drained the connections by now: the last window is complete
                self.monitor.close()
                self._body_deadlines.stop()
                self._executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _other(self, scope: Scope, send: Send) -> None:
        """Every request but ``POST /invoke``."""
        path, method = scope["path"], scope["method"]
        allowed = _ROUTES.get(path)
        if allowed is None:
            await _respond(send, 404, _error("NotFound", f"no route {path!r}"))
        elif method not in allowed:
            allow = (b"allow", ", ".join(allowed).encode("ascii"))
            await _respond(send, 405, _error("MethodNotAllowed", f"use {allowed[0]}"), allow)
        elif path == "/health":
            await _respond(send, 200, self._health())
        elif not self._authorized(dict(scope["headers"]).get(b"authorization")):
            await _respond(send, 401, _UNAUTHORIZED, _CHALLENGE)
        else:
            await _respond(send, 200, self._openapi)

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /invoke``: the hot path, in one coroutine from the headers to the answer."""
        started = time.perf_counter()
        monitor = self.monitor
        headers = dict(scope["headers"])  # one pass; of a repeated header, the last counts
        if not self._authorized(headers.get(b"authorization")):
            # counted (a client with a wrong token shows in the monitor); the body is not read
            monitor.record(401, time.perf_counter() - started, None, _UNAUTHORIZED)
            await _respond(send, 401, _UNAUTHORIZED, _CHALLENGE)
            return
        body = None
        monitor.in_flight += 1
        try:
            reading = read_body(receive, headers.get(b"content-length"), self.spec.max_body)
            body = await self._body_deadlines.within(reading)
            items, batch = self.schema.parse(body)
            monitor.count(items)
        except RequestError as err:
            kind = "PayloadTooLarge" if err.status == 413 else "BadRequest"
            status, out = err.status, _error(kind, err.message, err.field)
        except asyncio.TimeoutError:
            status, out = 408, _error("RequestTimeout", "the request body did not arrive in time")
        else:
            if self._cost * len(items) < self.spec.inline_below:
                try:  # on the loop: cheaper than the hop to a thread
                    out, results = self._call(items, batch)
                    status = 200
                    monitor.count_predictions(results)
                except (Exception, SystemExit, KeyboardInterrupt) as err:  # sys.exit() too
                    status, out = self._failed(err)
            else:
                status, out = await self._in_thread(items, batch)
        finally:
            monitor.in_flight -= 1
        monitor.record(status, time.perf_counter() - started, body, out)
        await _respond(send, status, out)

    def _authorized(self, value: bytes | None) -> bool:
        """``Authorization: Bearer <token>``, checked against the token's sha256."""
        if value is None:
            return False
        accepted = self._accepted
        # The value that passed last time passes again without a sha256, compared in
        # constant time too (for a value of another length that shows only the length).
        if accepted is not None and hmac.compare_digest(value, accepted):
            return True
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return False
        digest = hashlib.sha256(token.strip()).hexdigest().encode("ascii")
        if hmac.compare_digest(digest, self._token_sha256):
            self._accepted = value
            return True
        return False

    async def _in_thread(self, items: list[dict[str, Any]], batch: bool) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._call, items, batch)
        try:
            out, results = await asyncio.wait_for(future, self.spec.timeout)
            self.monitor.count_predictions(results)  # on the loop, as every count is
            return 200, out
        except asyncio.TimeoutError:
            if not future.done() or future.cancelled():  # the limit, not the function raising
                error_id = _error_id()
                logger.error(
                    "error %s: %s did not finish within %ss (the call goes on in its thread)",
                    error_id,
                    self.served.function.name,
                    self.spec.timeout,
                )
                message = f"the function did not finish within {self.spec.timeout:g} s"
                return 504, _error("Timeout", message, error_id=error_id)
            return self._failed(future.exception() or Exception("unknown"))
        except (Exception, SystemExit, KeyboardInterrupt) as err:
            return self._failed(err)

    def _failed(self, err: BaseException) -> tuple[int, bytes]:
        """The 500 for a function that raised (or returned what JSON cannot carry)."""
        error_id = _error_id()
        if isinstance(err, UnconvertibleOutputError):
            logger.error("error %s: %s", error_id, err)
            return 500, _error("UnconvertibleOutput", str(err), err.output, error_id=error_id)
        logger.error(
            "error %s: %s raised %s",
            error_id,
            self.served.function.name,
            type(err).__name__,
            exc_info=err,
        )
        message = f"the function raised {type(err).__name__}; see the deployment log"
        return 500, _error("FunctionError", message, error_id=error_id)

    def _call(self, items: list[dict[str, Any]], batch: bool) -> tuple[bytes, list[Any]]:
        """The encoded answer, and the results themselves (the predictions to count)."""
        started = time.perf_counter()
        try:
            results = [self.served.call(values) for values in items]
        finally:
            seconds = (time.perf_counter() - started) / len(items)
            if math.isinf(self._cost):
                self._cost = seconds
            else:
                self._cost += COST_SMOOTHING * (seconds - self._cost)
        return encode(results, batch, returned=self.served.typed_def), results

    def _health(self) -> bytes:
        function = self.served.function
        health = {
            "status": "ok",
            "function": function.name,
            "version": function.version,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.monitor.started, 3),
            "invoke": self.monitor.health(),
        }
        return json.dumps(health).encode("utf-8")


def first_served_file(spec: ServeSpec) -> Path | None:
    """Where this version's workers share a reference made of the first predictions served
    (None: training logged one, or nothing is monitored)."""
    from ..drift.prediction import is_prediction, reference_file

    if spec.monitor_dir is None or any(is_prediction(name) for name in spec.references):
        return None
    return reference_file(Path(spec.monitor_dir), spec.resolved_version or "", spec.from_run)


def _error_id() -> str:
    return uuid.uuid4().hex[:16]


def _error(
    kind: str, message: str, field: str | None = None, *, error_id: str | None = None
) -> bytes:
    body: dict[str, Any] = {"error": kind, "message": message, "field": field}
    if error_id is not None:
        body["id"] = error_id
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


_UNAUTHORIZED = _error("Unauthorized", "send the deployment's token as 'Authorization: Bearer …'")
_CHALLENGE = (b"www-authenticate", b"Bearer")


async def _respond(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode("ascii")), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

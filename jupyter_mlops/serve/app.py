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
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .inputs import RequestError, RequestSchema
from .loader import ServedFunction
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
LATENCY_WINDOW = 2048  # the last N invoke latencies give the percentiles in /health


class Stats:
    """Counters of ``/invoke`` requests in this worker process."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.by_status: dict[int, int] = {}
        self.in_flight = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def record(self, status: int, seconds: float) -> None:
        self.requests += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.latencies.append(seconds)

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def percentile(q: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

        return {
            "requests": self.requests,
            "errors": sum(n for status, n in self.by_status.items() if status >= 500),
            "rejected": sum(n for status, n in self.by_status.items() if 400 <= status < 500),
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "in_flight": self.in_flight,
            "latency_ms": {"p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99)},
            "window": len(ordered),
        }


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
        self.stats = Stats()
        # Seconds a call takes (smoothed). It starts high, so the first calls run in threads.
        self._cost = float("inf") if spec.inline_below > 0 else 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # websockets are not served: returning without accepting makes the server refuse them

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        allowed = _ROUTES.get(path)
        if allowed is None:
            await _respond(send, 404, _error("NotFound", f"no route {path!r}"))
            return
        if method not in allowed:
            allow = (b"allow", ", ".join(allowed).encode("ascii"))
            await _respond(send, 405, _error("MethodNotAllowed", f"use {allowed[0]}"), allow)
            return
        if path == "/health":
            await _respond(send, 200, self._health())
            return
        if not self._authorized(scope):
            await _respond(
                send,
                401,
                _error("Unauthorized", "send the deployment's token as 'Authorization: Bearer …'"),
                (b"www-authenticate", b"Bearer"),
            )
            return
        if path == "/openapi.json":
            await _respond(send, 200, self._openapi)
            return
        started = time.perf_counter()
        self.stats.in_flight += 1
        try:
            status, body = await self._invoke(scope, receive)
        finally:
            self.stats.in_flight -= 1
        self.stats.record(status, time.perf_counter() - started)
        await _respond(send, status, body)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"bearer" or not token.strip():
                    return False
                digest = hashlib.sha256(token.strip()).hexdigest().encode("ascii")
                return hmac.compare_digest(digest, self._token_sha256)
        return False

    async def _invoke(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        try:
            body = await self._timed_body(scope, receive)
            items, batch = self.schema.parse(body)
        except RequestError as err:
            kind = "PayloadTooLarge" if err.status == 413 else "BadRequest"
            return err.status, _error(kind, err.message, err.field)
        except asyncio.TimeoutError:
            return 408, _error("RequestTimeout", "the request body did not arrive in time")
        try:
            if self._cost * len(items) < self.spec.inline_below:
                return 200, self._call(items, batch)  # cheaper than the hop to a thread
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._executor, self._call, items, batch)
            return 200, await asyncio.wait_for(future, self.spec.timeout)
        except asyncio.TimeoutError:
            error_id = _error_id()
            logger.error(
                "error %s: %s did not finish within %ss (the call goes on in its thread)",
                error_id,
                self.served.function.name,
                self.spec.timeout,
            )
            message = f"the function did not finish within {self.spec.timeout:g} s"
            return 504, _error("Timeout", message, error_id=error_id)
        except UnconvertibleOutputError as err:
            error_id = _error_id()
            logger.error("error %s: %s", error_id, err)
            return 500, _error("UnconvertibleOutput", str(err), err.output, error_id=error_id)
        except (Exception, SystemExit, KeyboardInterrupt) as err:  # sys.exit() in a cell too
            error_id = _error_id()
            logger.error(
                "error %s: %s raised %s",
                error_id,
                self.served.function.name,
                type(err).__name__,
                exc_info=err,
            )
            message = f"the function raised {type(err).__name__}; see the deployment log"
            return 500, _error("FunctionError", message, error_id=error_id)

    def _call(self, items: list[dict[str, Any]], batch: bool) -> bytes:
        started = time.perf_counter()
        try:
            results = [self.served.call(values) for values in items]
        finally:
            seconds = (time.perf_counter() - started) / len(items)
            if math.isinf(self._cost):
                self._cost = seconds
            else:
                self._cost += COST_SMOOTHING * (seconds - self._cost)
        return encode(results, batch)

    async def _timed_body(self, scope: Scope, receive: Receive) -> bytes:
        """The body within the request timeout (a timer, not wait_for: no task per request)."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(self.spec.timeout, expire)
        try:
            return await self._body(scope, receive)
        except asyncio.CancelledError:
            if not expired:
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()
            raise asyncio.TimeoutError from None
        finally:
            timer.cancel()

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.spec.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise RequestError(400, "Content-Length is not a number") from None
                if declared > limit:
                    raise RequestError(413, f"the body is {declared} bytes; at most {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "the client went away before sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the body is more than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _health(self) -> bytes:
        function = self.served.function
        health = {
            "status": "ok",
            "function": function.name,
            "version": function.version,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.stats.started, 3),
            "invoke": self.stats.to_dict(),
        }
        return json.dumps(health).encode("utf-8")


def _error_id() -> str:
    return uuid.uuid4().hex[:16]


def _error(
    kind: str, message: str, field: str | None = None, *, error_id: str | None = None
) -> bytes:
    body: dict[str, Any] = {"error": kind, "message": message, "field": field}
    if error_id is not None:
        body["id"] = error_id
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


async def _respond(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode("ascii")), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

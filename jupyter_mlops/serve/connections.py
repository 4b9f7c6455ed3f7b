"""Connections of the serving process: slow clients bounded, drained cleanly on shutdown.

uvicorn's own ``limit_concurrency`` counts open connections and answers 503 above it, so a
few hundred clients that open connections and trickle their headers lock everyone else out
(and uvicorn has no deadline for headers). ``GuardedHttpTools`` is uvicorn's httptools
protocol with three changes:

- **A header deadline.** A new connection must send its first request, and a request its
  last header, within ``header_timeout`` seconds of its first byte; else it is answered 408
  and closed. (Idle keep-alive connections are closed by uvicorn's ``timeout_keep_alive``;
  a body that does not arrive is the app's 408 within its ``timeout``, and the rest of a
  body answered early is dropped for at most ``header_timeout``, then the connection closes.)
- **A connection cap that evicts.** Above ``max_connections`` a new connection closes the
  oldest one that is not having a request answered (still sending headers or a body, or
  idle between requests). A real client sends its request in microseconds, so the evicted
  are the slow ones, and a new client (and ``/health``) is served. Only when every
  connection is having a request answered is the new one refused (503, at once).
- **Draining.** ``drain()`` (when the server stops: a redeploy or a stop) makes the
  connection's next response carry ``Connection: close`` and close after it: a keep-alive
  client then opens a new connection, to the version that now serves, instead of sending
  its next request into a connection that is closing under it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)


def _raw(status: str, error: str, message: str, *extra: str) -> bytes:
    """A whole response written straight to the transport (no request cycle to answer on)."""
    body = json.dumps({"error": error, "message": message, "field": None}).encode("utf-8")
    head = [
        f"HTTP/1.1 {status}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


_TIMEOUT = _raw("408 Request Timeout", "RequestTimeout", "the request headers came too slowly")
_BUSY = _raw("503 Service Unavailable", "Busy", "too many connections", "retry-after: 1")


@dataclass(frozen=True)
class Limits:
    header_timeout: float  # seconds from a request's first byte (or the connection) to its headers
    max_connections: int  # open connections per worker process


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, an evicting cap and draining."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._deadline: asyncio.TimerHandle | None = None
        self.idle_since: float | None = time.monotonic()  # None while a request is answered
        self.draining = False
        self.lingering = False  # answered before the body was in; dropping the rest

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with Connection: close, then closed

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.lingering:  # the body of a request answered early is in: on as usual
            self.lingering = False
            self._disarm()
            super().on_response_complete()
        elif self.cycle is not None and not self.cycle.response_complete:
            self.idle_since = None  # the app has the whole request: not evictable now

    def on_response_complete(self) -> None:
        self.idle_since = time.monotonic()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before its body arrived (413, 401, 408): the rest of the body is read
            # and dropped so the client can read the answer, but only for ``header_timeout``
            # (else a body trickling in would keep the connection open for good, each byte
            # resetting the keep-alive timer).
            self.lingering = True
            self.flow.resume_reading()
            self._disarm()
            self._deadline = self.loop.call_later(self.limits.header_timeout, self._close)
            return
        super().on_response_complete()

    def drain(self) -> None:
        """The server is stopping: close this connection after its next (or current) answer."""
        self.draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False

    # -- the deadline and the cap ------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close(self) -> None:
        self._deadline = None
        self.transport.close()

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing() and self.idle_since is not None:
            self.transport.write(_TIMEOUT)
            self.transport.close()

    def _make_room(self) -> None:
        victim: GuardedHttpTools | None = None
        for other in self.connections:
            if (
                other is not self
                and isinstance(other, GuardedHttpTools)
                and other.idle_since is not None
                and not other.transport.is_closing()
                and (victim is None or other.idle_since < (victim.idle_since or 0.0))
            ):
                victim = other
        if victim is not None:
            victim.transport.close()
        else:
            logger.warning("refused a connection: %d are being answered", len(self.connections))
            self.transport.write(_BUSY)
            self.transport.close()


def drain(connections: set[Any]) -> None:
    for connection in list(connections):
        if isinstance(connection, GuardedHttpTools):
            connection.drain()

"""Time limits on awaiting something (a request body) without a timer per request.

A timer per request (``call_later`` and its cancel, or ``asyncio.timeout``) costs a few
microseconds: a quarter of what the app spends on a fast request. Here a request only
writes its deadline into a dict; one
timer per worker looks at the dict a few times per limit and cancels the tasks that are
late, so a limit of ``T`` seconds fires after between ``T`` and ``1.25 T`` (at most 1 s
late).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Deadlines:
    """``await deadlines.within(awaitable)``: its result, or TimeoutError once ``limit`` passed."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.period = min(1.0, limit / 4)
        self._waiting: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Check the deadlines every ``period`` seconds on ``loop``; until ``stop``."""
        self._timer = loop.call_later(self.period, self._sweep, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        for task, deadline in list(self._waiting.items()):
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._timer = loop.call_later(self.period, self._sweep, loop)

    async def within(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.current_task()
        if task is None or self._timer is None:  # not started: no limit to keep
            return await awaitable
        waiting = self._waiting
        waiting[task] = time.monotonic() + self.limit
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()
            raise asyncio.TimeoutError from None
        finally:
            del waiting[task]
            if self._expired:
                self._expired.discard(task)

"""Work that must not block the server's event loop: quick calls, runs and sweeps.

Quick calls (queries, lookups) go to a small thread pool and are awaited. Parsing a
notebook is not quick (a thousand-cell one takes seconds): parses have their own, smaller
pool, so a few large ones queue behind each other instead of taking every thread that
``GET /runs`` needs. Runs and sweeps
are recorded ``queued`` by the handler (so the response carries their id) and executed on
their own pools; the handler returns at once and the sidebar polls. On server stop the
running ones are cancelled and the queued ones marked ``cancelled``, so none is left
``running`` in the store. Deployment calls (which wait for a keeper) have their own pool,
and so does the periodic restore of deployments whose keeper is gone; deployments are
separate processes and keep serving when the server stops.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..deploy.follow import AliasWatcher
    from ..execute.runner import RunRequest
    from ..execute.sweep import SweepJob
    from ..loop.watch import WatchThread
    from ..service import MLOps

T = TypeVar("T")

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(
        self,
        service: MLOps,
        *,
        max_runs: int,
        max_sweeps: int = 2,
        max_parses: int = 2,
        policy_interval: float = 0.0,
    ) -> None:
        self.service = service
        self.policy_interval = policy_interval
        self._policies: WatchThread | None = None
        self._quick = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlops-api")
        self._parses = ThreadPoolExecutor(max_workers=max_parses, thread_name_prefix="mlops-parse")
        self._runs = ThreadPoolExecutor(max_workers=max_runs, thread_name_prefix="mlops-run")
        self._sweeps = ThreadPoolExecutor(max_workers=max_sweeps, thread_name_prefix="mlops-sw")
        # deploy, stop, roll back wait seconds for a keeper: never ahead of quick calls
        self._lifecycle = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlops-deploy")
        self._supervising: Future[None] | None = None
        self._follower: AliasWatcher | None = None
        self._lock = threading.Lock()
        self._pending: set[str] = set()  # run ids submitted here and not finished
        self._stopping = False

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on a worker thread, awaited."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._quick, functools.partial(fn, *args, **kwargs))

    async def parse(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """A notebook parse (or a large body's decoding) on the parse threads, awaited."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._parses, functools.partial(fn, *args, **kwargs))

    async def lifecycle(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """A deployment call that waits for its keeper, on the lifecycle threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._lifecycle, functools.partial(fn, *args, **kwargs))

    def supervise(self) -> None:
        """Restart the keepers of deployments left running (after a reboot, a kill)."""
        if self._supervising is None or self._supervising.done():
            self._supervising = self._lifecycle.submit(self._restore)
        if self._follower is None:  # deployments that follow an alias move with it
            from ..deploy.follow import AliasWatcher

            self._follower = AliasWatcher(self.service)
            self._follower.start()
        if self._policies is None and self.policy_interval > 0:  # the retraining loop
            from ..loop.watch import Watcher, WatchThread

            self._policies = WatchThread(Watcher(self.service), self.policy_interval)
            self._policies.start()

    def _restore(self) -> None:
        from ..errors import StoreError

        try:
            restored = self.service.deployments.restore()
        except StoreError as err:  # the store is unavailable: one line, not a traceback
            log.warning("restoring deployments: %s", err)
            return
        except Exception:
            log.exception("restoring deployments failed")
            return
        if restored:
            log.info("jupyter_mlops: restored deployments %s", ", ".join(restored))

    def submit_run(self, request: RunRequest) -> None:
        assert request.run_id is not None
        self._track([request.run_id])
        self._runs.submit(self._guarded, [request.run_id], self.service.execute, request)

    def submit_sweep(self, job: SweepJob, *, parallel: int, fail_fast: bool) -> None:
        self._track(job.run_ids)
        self._sweeps.submit(
            self._guarded,
            job.run_ids,
            functools.partial(self.service.run_sweep, parallel=parallel, fail_fast=fail_fast),
            job,
        )

    def stop(self) -> None:
        """Cancel what runs, mark what waits ``cancelled``; called when the server stops."""
        with self._lock:
            self._stopping = True
            pending = list(self._pending)
        for run_id in pending:
            try:
                self.service.cancel(run_id)
            except Exception as err:  # finished meanwhile, or the store is gone
                log.debug("on stop, run %s: %s", run_id, err)
        if self._follower is not None:
            self._follower.stop()
        if self._policies is not None:
            self._policies.stop()
        self._lifecycle.shutdown(wait=False, cancel_futures=True)  # deployments live on
        for pool in (self._runs, self._sweeps, self._quick, self._parses):
            pool.shutdown(wait=True, cancel_futures=True)

    def _track(self, run_ids: list[str]) -> None:
        with self._lock:
            self._pending.update(run_ids)

    def _guarded(self, run_ids: list[str], work: Callable[[Any], Any], item: Any) -> None:
        try:
            work(item)
        except BaseException:
            # The runner records a failed run itself; this is a fault below it (the store
            # went away), which must not vanish silently on a pool thread.
            log.exception("background work for runs %s failed", ", ".join(run_ids))
        finally:
            with self._lock:
                self._pending.difference_update(run_ids)

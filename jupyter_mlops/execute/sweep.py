"""Sweeps: many runs of one notebook or function over a space of parameter values.

Strategies (the space maps each swept parameter to its candidate values)::

    grid     every combination, in order (the last parameter varies fastest)
    list     the i-th value of every parameter together (lists of equal length; a single
             value is used for every run)
    random   a seeded sample of grid points *without* replacement (MLRun samples with
             replacement and repeats runs)

``max_runs`` caps any strategy. Points are generated one at a time and counted before any
is made, so a sweep over more runs than the configured limit is refused at once, whatever
the size of its space. Every run is recorded `queued` under the sweep before the
first one starts, so a sweep's size is visible at once and a crash leaves no run unaccounted.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError

if TYPE_CHECKING:
    from ..store import Run, Store, Sweep
    from .runner import Runner, RunRequest

logger = logging.getLogger(__name__)

STRATEGIES = ("grid", "list", "random")
BATCH = 500  # runs recorded per transaction


@dataclass(frozen=True)
class Selector:
    """``max:accuracy`` or ``min:loss``: how the best run of a sweep is chosen."""

    goal: str  # max | min
    metric: str

    @classmethod
    def parse(cls, text: str) -> Selector:
        goal, _, metric = text.partition(":")
        if goal not in {"max", "min"} or not metric:
            raise ParameterError(
                f"--select must be max:METRIC or min:METRIC, not {text!r}", parameter="select"
            )
        return cls(goal, metric)

    def __str__(self) -> str:
        return f"{self.goal}:{self.metric}"

    def check(self, request: RunRequest) -> None:
        """Refuse a metric the runs can never record, before any run is recorded.

        Only when that is decidable (``notebook/recorded.py``): a metric logged under a
        computed name, or by code the analysis cannot see, is given the benefit of the doubt.
        """
        from ..notebook.reader import cell_source, read_notebook
        from ..notebook.recorded import recordable_metrics

        plan = request.plan
        if request.function is not None:
            function = plan.function(request.function)
            sources = [cell.source for cell in [*plan.setup, *function.cells]]
            declared, what = function.metrics, f"function {function.name!r}"
        else:
            cells = read_notebook(request.notebook, name=request.notebook_name).cells
            sources = [cell_source(c) for c in cells if c.get("cell_type") == "code"]
            declared, what = [metric.name for metric in plan.metrics], "the notebook"
        known = recordable_metrics(sources, declared, request.cwd or request.notebook.parent)
        if known is not None and self.metric not in known:
            recorded = ", ".join(sorted(known)) or "none"
            raise ParameterError(
                f"--select {self}: {what} never records a metric {self.metric!r} "
                f"(its metrics: {recorded})",
                parameter="select",
                notebook=request.notebook_name,
                hint="name a metric of a mlops:metrics cell or a log_metric('NAME', …) call",
            )

    def best(self, runs: Sequence[Run]) -> Run | None:
        scored = [r for r in runs if r.status == "succeeded" and self.metric in r.metrics]
        if not scored:
            return None
        pick = max if self.goal == "max" else min
        return pick(scored, key=lambda run: run.metrics[self.metric])


def expand(
    space: dict[str, list[Any]],
    strategy: str = "grid",
    *,
    max_runs: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The parameter sets of a sweep, in the order they will run (at most ``limit`` of them)."""
    count = sweep_size(space, strategy, max_runs=max_runs, limit=limit)
    return list(points(space, strategy, count=count, seed=seed))


def sweep_size(
    space: dict[str, list[Any]],
    strategy: str = "grid",
    *,
    max_runs: int | None = None,
    limit: int | None = None,
) -> int:
    """How many runs the sweep makes, computed without building a point.

    Over ``limit``: a ParameterError that names the count, before anything is recorded, so
    one small request (10,000 values of two parameters: 10^8 points) costs nothing.
    """
    if strategy not in STRATEGIES:
        raise ParameterError(
            f"unknown sweep strategy {strategy!r} (strategies: {', '.join(STRATEGIES)})",
            parameter="strategy",
        )
    if max_runs is not None and max_runs < 1:
        raise ParameterError("--max-runs must be at least 1", parameter="max_runs")
    for name, values in space.items():
        if not values:
            raise ParameterError(f"parameter {name!r} has no values to sweep", parameter=name)
    if strategy == "list":
        total = _zipped_length(space)
    else:
        total = math.prod(len(values) for values in space.values())
    count = min(total, max_runs) if max_runs else total
    if limit is not None and count > limit:
        raise ParameterError(
            f"the sweep would start {count:,} runs ({strategy} over "
            f"{' x '.join(str(len(v)) for v in space.values())} values), more than the "
            f"limit of {limit:,}",
            parameter="max_runs",
            hint="pass --max-runs N (with --strategy random for a sample), or raise "
            "c.MLOps.max_sweep_runs",
        )
    return count


def points(
    space: dict[str, list[Any]], strategy: str, *, count: int, seed: int | None = None
) -> Iterator[dict[str, Any]]:
    """The first ``count`` points of the strategy, one at a time (``count`` from sweep_size)."""
    names = list(space)
    if strategy == "list":
        for i in range(count):
            yield {name: values[i if len(values) > 1 else 0] for name, values in space.items()}
    elif strategy == "random":
        total = math.prod(len(values) for values in space.values())
        for index in _sample(random.Random(seed), total, count):
            yield _grid_point(space, names, index)
    else:
        stop = count if count <= sys.maxsize else None
        for combo in itertools.islice(itertools.product(*space.values()), stop):
            yield dict(zip(names, combo, strict=True))


def _sample(rng: random.Random, total: int, count: int) -> list[int]:
    """``count`` distinct indices below ``total``, in O(count) memory whatever ``total`` is."""
    if total <= sys.maxsize:
        return rng.sample(range(total), count)  # keeps only the indices it picks
    picked: dict[int, None] = {}  # past sys.maxsize, count is a vanishing share: redraw repeats
    while len(picked) < count:
        picked.setdefault(rng.randrange(total))
    return list(picked)


def _zipped_length(space: dict[str, list[Any]]) -> int:
    lengths = {len(values) for values in space.values() if len(values) != 1}
    if len(lengths) > 1:
        sizes = ", ".join(f"{name}: {len(values)}" for name, values in space.items())
        raise ParameterError(
            f"the list strategy needs the same number of values for every parameter ({sizes})",
            parameter="strategy",
        )
    return lengths.pop() if lengths else 1


def _grid_point(space: dict[str, list[Any]], names: list[str], index: int) -> dict[str, Any]:
    """The ``index``-th grid combination, without building the whole grid (mixed radix)."""
    point: dict[str, Any] = {}
    for name in reversed(names):
        values = space[name]
        index, digit = divmod(index, len(values))
        point[name] = values[digit]
    return {name: point[name] for name in names}


@dataclass
class SweepResult:
    sweep: Sweep
    runs: list[Run]
    best: Run | None


ProgressCallback = Callable[[int, int, "Run"], None]


@dataclass
class SweepJob:
    """A recorded sweep whose runs are queued: ``requests[i].run_id`` is set for each."""

    sweep: Sweep
    requests: list[RunRequest]
    select: Selector | None

    @property
    def run_ids(self) -> list[str]:
        return [request.run_id for request in self.requests if request.run_id is not None]


def check_parallel(parallel: int) -> int:
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise ParameterError("--parallel must be an integer of at least 1", parameter="parallel")
    return parallel


class SweepExecutor:
    """Runs the points of a sweep on ``parallel`` workers, each a run of the Runner."""

    def __init__(self, store: Store, runner: Runner) -> None:
        self.store = store
        self.runner = runner

    def prepare(
        self,
        base: RunRequest,
        points: Iterable[dict[str, Any]],
        *,
        strategy: str,
        space: dict[str, list[Any]],
        select: Selector | None = None,
    ) -> SweepJob:
        """Record the sweep and each of its runs ``queued``; nothing runs yet."""
        sweep = self.store.create_sweep(
            notebook=base.notebook_name,
            function=base.function,
            strategy=strategy,
            space=space,
            select=str(select) if select else None,
        )
        base = replace(base, sweep_id=sweep.id)
        requests: list[RunRequest] = []
        points = iter(points)
        # in batches: one transaction (and one fsync) per batch, not per run
        while batch := [{**base.parameters, **p} for p in itertools.islice(points, BATCH)]:
            ids = self.runner.record_points(base, batch)
            requests += [
                replace(base, parameters=values, run_id=run_id)
                for values, run_id in zip(batch, ids, strict=True)
            ]
        return SweepJob(sweep, requests, select)

    def run(
        self,
        job: SweepJob,
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> SweepResult:
        """Execute a prepared sweep's runs on ``parallel`` workers and finish its record."""
        check_parallel(parallel)
        sweep, requests, select = job.sweep, job.requests, job.select
        stop = threading.Event()
        ours = {request.run_id for request in requests if request.run_id is not None}
        done: list[Run] = []
        lock = threading.Lock()

        def cancel_running() -> None:
            for run_id in ours.intersection(self.runner.running()):
                self.runner.cancel(run_id)

        def work(request: RunRequest) -> Run:
            assert request.run_id is not None
            if stop.is_set():
                return self.store.finish_run(
                    request.run_id,
                    "cancelled",
                    error={"cell": None, "ename": "SweepStopped", "evalue": "the sweep stopped"},
                )
            result = self.runner.execute(request)
            if fail_fast and result.status != "succeeded" and not stop.is_set():
                stop.set()
                cancel_running()
            with lock:
                done.append(result)
                if on_progress is not None:
                    on_progress(len(done), len(requests), result)
            return result

        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="mlops-sweep")
        try:
            runs = list(pool.map(work, requests))
        except BaseException:
            # Ctrl-C: the workers take no new point and the running ones are cancelled.
            stop.set()
            cancel_running()
            pool.shutdown(wait=True, cancel_futures=True)
            for request in requests:
                assert request.run_id is not None
                if self.store.get_run(request.run_id).status == "queued":
                    self.store.finish_run(
                        request.run_id,
                        "cancelled",
                        error={"cell": None, "ename": "SweepStopped", "evalue": "interrupted"},
                    )
            self.store.finish_sweep(sweep.id, "cancelled")
            raise
        pool.shutdown(wait=True)
        best = select.best(runs) if select else None
        statuses = {run.status for run in runs}
        status = "succeeded" if statuses == {"succeeded"} else "failed"
        if "cancelled" in statuses and "failed" not in statuses:
            status = "cancelled"
        sweep = self.store.finish_sweep(sweep.id, status, best_run_id=best.id if best else None)
        return SweepResult(sweep, runs, best)

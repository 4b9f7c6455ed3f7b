"""Concurrent writers: N processes recording runs through the Store API into one store.

Each process opens its own Store (as every CLI process and Jupyter server does), waits at a
barrier until all are open, then records runs for a fixed time: ``create_run``,
``start_run``, ``log_metrics`` and ``finish_run``, four transactions a run. Throughput is
every process's runs over the span from the first start to the last end, so a writer that
waits for a lock counts against it.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops.store import Store


def one_run(store: Store, writer: int = 0) -> None:
    """One run as the runtime records it: created, started, metrics logged, finished."""
    run, _ = store.create_run(
        notebook="project/nb0.ipynb", function="train", parameters={"writer": writer}
    )
    store.start_run(run.id)
    store.log_metrics(run.id, {"accuracy": 0.5, "loss": 0.1})
    store.finish_run(run.id, "succeeded", metrics={"f1": 0.3})


def _write(url: str, artifacts: str, writer: int, seconds: float, barrier: Any, out: Any) -> None:
    store = Store(url, artifacts)
    try:
        one_run(store, writer)  # warm: connection and statements, outside the timing
        barrier.wait(timeout=300)  # never forever, if another writer failed to open
        began = time.time()
        count = 0
        while time.time() - began < seconds:
            one_run(store, writer)
            count += 1
        out.put((count, began, time.time()))
    finally:
        store.close()


@dataclass(frozen=True)
class Throughput:
    writers: int
    runs: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else 0.0


def throughput(url: str, artifacts: Path, writers: int, seconds: float) -> Throughput:
    """Runs/s of ``writers`` processes writing to the store at ``url`` for ``seconds``."""
    context = multiprocessing.get_context("spawn")  # fresh processes, like separate CLIs
    barrier = context.Barrier(writers)
    out = context.Queue()
    processes = [
        context.Process(target=_write, args=(url, str(artifacts), i, seconds, barrier, out))
        for i in range(writers)
    ]
    for process in processes:
        process.start()
    results: list[tuple[int, float, float]] = []
    deadline = time.time() + seconds + 300
    while len(results) < writers:  # a writer that died never reports: stop waiting for it
        try:
            results.append(out.get(timeout=1))
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead or time.time() > deadline:
                for process in processes:
                    process.kill()
                what = f"exited with {dead[0].exitcode}" if dead else "did not finish"
                raise RuntimeError(f"a writer process {what}") from None
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"writer process {process.pid} exited with {process.exitcode}")
    runs = sum(count for count, _began, _ended in results)
    span = max(ended for *_, ended in results) - min(began for _, began, _ in results)
    return Throughput(writers, runs, span)

"""Wait for a run in the foreground, the way a terminal or a notebook cell waits.

The run itself works on a helper thread; the calling (main) thread only waits, so it stays
the one that receives Ctrl-C (a terminal's SIGINT, a kernel's "interrupt") and can refresh a
progress display while it waits. On Ctrl-C the run is cancelled, not abandoned: its kernel
and children are stopped, the record says ``cancelled``, and that record is returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_in_foreground(
    work: Callable[[], T],
    *,
    on_interrupt: Callable[[], None],
    tick: Callable[[], None] | None = None,
    interval: float = 0.2,
    name: str = "mlops-run",
) -> T:
    """``work()``'s result (or its exception), computed on a helper thread.

    ``tick`` is called on the calling thread every ``interval`` seconds while it waits;
    ``on_interrupt`` when Ctrl-C arrives, after which the wait goes on until ``work`` ends.
    """
    result: list[T] = []
    failure: list[BaseException] = []
    finished = threading.Event()

    def target() -> None:
        try:
            result.append(work())
        except BaseException as err:  # handed to the calling thread as it is
            failure.append(err)
        finally:
            finished.set()

    # An Event, not Thread.join: a join interrupted by Ctrl-C can leave the thread marked
    # stopped while it still runs (CPython's _wait_for_tstate_lock), and a second join
    # would then return at once.
    threading.Thread(target=target, name=name, daemon=True).start()
    try:
        while not finished.wait(interval):
            if tick is not None:
                tick()
    except KeyboardInterrupt:
        on_interrupt()
        finished.wait()
    if failure:
        raise failure[0]
    return result[0]

"""What a worker saw on ``/invoke``: windows of counts, latency buckets and a few samples.

Each worker process has one Recorder. The app feeds it once per request, always on the
event loop's thread, so it takes no lock and does no I/O: two counters, a bisect into the
bucket bounds and, for a sampled request (``random() < sample_rate``, at most
``max_samples`` per window), a reference to the request and response bodies. Every
``interval`` seconds a timer on the same loop closes the window and, when it had requests,
writes it as ``DIR/window-<pid>-<seq>.json`` (to a dot-file first, then renamed: a reader
never sees half a file); the last window is written at shutdown. A supervisor consumes the
files with ``take_windows`` and sums them with ``merge``.

Latencies are counted in fixed log-spaced buckets (``BUCKETS``, 5 % apart), so windows of
any number of workers and intervals add up exactly, and a percentile of the sum is right to
within one bucket. A sample holds the request body and the response body, never a header:
the token cannot end up in a window file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from pathlib import Path
from random import random
from typing import Any

from ..drift.prediction import FirstServed, is_prediction, prediction_key, prediction_values
from ..drift.reference import Reference, WindowCounts, preload_numpy

logger = logging.getLogger(__name__)
CHUNK = 2048  # requests whose field values are binned together (drift counting)

FIRST_MS, STEP, LAST_MS = 0.01, 1.05, 60_000.0
BUCKETS: tuple[float, ...] = tuple(
    float(f"{FIRST_MS * STEP**i:.4g}")  # 4 digits: bounds that read well, still 5 % apart
    for i in range(math.ceil(math.log(LAST_MS / FIRST_MS) / math.log(STEP)) + 1)
)
"""Upper bounds in ms; bucket ``i`` counts latencies in ``(BUCKETS[i-1], BUCKETS[i]]``, the
last one everything above too."""
_LAST = len(BUCKETS) - 1


def bucket_of(ms: float) -> int:
    """The index of the bucket that counts a latency of ``ms`` milliseconds."""
    i = bisect_left(BUCKETS, ms)
    return i if i < _LAST else _LAST


def percentile(buckets: Mapping[Any, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in ms, as its bucket's upper bound; None without counts.

    Keys may be ints or, as read from a window file, decimal strings.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile is within 0..1, not {q}")
    counts = sorted((int(i), n) for i, n in buckets.items() if n > 0)
    total = sum(n for _, n in counts)
    if not total:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for i, n in counts:
        seen += n
        if seen >= rank:
            return BUCKETS[min(max(i, 0), _LAST)]
    raise AssertionError("unreachable: the ranks add up to the total")


def merge(windows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Windows summed into one: counts and buckets added, samples joined (oldest first),
    the earliest start and latest end, and p50/p90/p99 of the summed buckets (never above
    the largest latency seen)."""
    requests = errors = rejected = 0
    by_status: dict[str, int] = {}
    buckets: dict[int, int] = {}
    max_ms = 0.0
    starts: list[float] = []
    ends: list[float] = []
    pids: set[int] = set()
    samples: list[Any] = []
    drift: dict[str, dict[str, Any]] = {}
    windows = list(windows)
    for window in windows:
        requests += int(window.get("requests", 0))
        errors += int(window.get("errors", 0))
        rejected += int(window.get("rejected", 0))
        for status, n in window.get("by_status", {}).items():
            by_status[str(status)] = by_status.get(str(status), 0) + int(n)
        for i, n in window.get("buckets", {}).items():
            buckets[int(i)] = buckets.get(int(i), 0) + int(n)
        max_ms = max(max_ms, float(window.get("max_ms", 0.0)))
        for key, into in (("start", starts), ("end", ends)):
            if window.get(key) is not None:
                into.append(float(window[key]))
        if window.get("pid") is not None:
            pids.add(int(window["pid"]))
        pids.update(int(pid) for pid in window.get("pids", ()))
        samples.extend(window.get("samples", ()))
        _add_drift(drift, window.get("drift", {}))

    def quantile(q: float) -> float | None:
        value = percentile(buckets, q)
        return None if value is None else min(value, round(max_ms, 3))

    return {
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "requests": requests,
        "errors": errors,
        "rejected": rejected,
        "by_status": dict(sorted(by_status.items())),
        "buckets": {str(i): buckets[i] for i in sorted(buckets)},
        "max_ms": round(max_ms, 3),
        "p50_ms": quantile(0.5),
        "p90_ms": quantile(0.9),
        "p99_ms": quantile(0.99),
        "samples": sorted(samples, key=lambda sample: sample.get("at") or 0),
        "windows": len(windows),
        "pids": sorted(pids),
        **({"drift": drift} if drift else {}),
    }


def _add_drift(total: dict[str, dict[str, Any]], window: Mapping[str, Any]) -> None:
    """Add one window's field counts to ``total``; counts of other bins (another version's
    reference) start the field again rather than mixing two references' bins."""
    for name, field in window.items():
        counts = [int(n) for n in field.get("counts", ())]
        into = total.get(name)
        if into is None or len(into["counts"]) != len(counts):
            total[name] = {
                "counts": counts,
                "missing": int(field.get("missing", 0)),
                "invalid": int(field.get("invalid", 0)),
            }
            continue
        into["counts"] = [a + b for a, b in zip(into["counts"], counts, strict=True)]
        into["missing"] += int(field.get("missing", 0))
        into["invalid"] += int(field.get("invalid", 0))


def take_windows(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The finished window files of ``directory``, read and deleted (oldest first).

    Dot-files (windows being written) are left alone; an unreadable file is renamed to a
    dot-file ending in ``.bad`` (kept to look at, not read again).
    """
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    windows: list[dict[str, Any]] = []
    for name in names:
        if not (name.startswith("window-") and name.endswith(".json")):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as handle:
                window = json.load(handle)
            if not isinstance(window, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:
            logger.warning("skipping the unreadable window file %s: %s", path, err)
            with contextlib.suppress(OSError):
                os.replace(path, os.path.join(directory, f".{name}.bad"))
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue  # another reader took it first: count it once
        windows.append(window)
    windows.sort(key=lambda window: float(window.get("start") or 0))
    return windows


def _by_status(counts: Mapping[int, int]) -> dict[str, Any]:
    """``by_status`` with string keys, and the errors (5xx) and rejected (4xx) in it."""
    return {
        "by_status": {str(status): n for status, n in sorted(counts.items())},
        "errors": sum(n for status, n in counts.items() if status >= 500),
        "rejected": sum(n for status, n in counts.items() if 400 <= status < 500),
    }


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


class Recorder:
    """One worker's statistics: the current window, its totals since start, for /health."""

    def __init__(
        self,
        directory: str | None,
        *,
        function: str = "",
        version: str = "",
        interval: float = 5.0,
        sample_rate: float = 0.1,
        max_samples: int = 20,
        max_sample_bytes: int = 8192,
        references: Mapping[str, Reference] | None = None,
        first_served: Path | None = None,
    ) -> None:
        self.directory = Path(directory) if directory else None
        given = dict(references or {})
        # Request fields are counted from the request, prediction fields from the answer.
        self.references = {k: v for k, v in given.items() if not is_prediction(k)}
        self.predictions = {k: v for k, v in given.items() if is_prediction(k)}
        # No prediction reference from training: the first predictions served make one.
        self._first = FirstServed(first_served) if not self.predictions else None
        if self.references:
            preload_numpy()  # at start, not in the middle of the first chunk's request
        self.function, self.version = function, version
        self.interval = interval
        self.sample_rate = sample_rate
        self.max_samples = max_samples if sample_rate > 0 else 0
        self.max_sample_bytes = max_sample_bytes
        self.started = time.time()
        self.in_flight = 0
        self.totals: dict[int, int] = {}  # by status, closed windows only
        self._previous = [0] * len(BUCKETS)  # the last closed window's, for /health
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._open()

    def _open(self) -> None:
        self._start = time.time()
        self._requests = 0
        self._by_status: dict[int, int] = {}
        self._counts = [0] * len(BUCKETS)
        self._max_ms = 0.0
        self._samples: list[tuple[float, int, float, bytes | int | None, bytes | int]] = []
        self._samples_left = self.max_samples
        self._drift = [(name, WindowCounts(ref)) for name, ref in self.references.items()]
        self._pending: list[dict[str, Any]] = []  # requests not binned yet (``count``)
        self._predicted = [(name, WindowCounts(ref)) for name, ref in self.predictions.items()]
        self._predicted_keys = [(prediction_key(name), c) for name, c in self._predicted]
        self._answers: list[Any] = []  # answers not binned yet (``count_predictions``)

    def count(self, items: list[dict[str, Any]]) -> None:
        """Count every request's watched fields into their reference's bins (drift). The
        parsed requests are kept (an append) and binned a chunk at a time, field by field
        (``add_many``): the request path pays one append, not a bisect per field."""
        if self._drift:
            self._pending.extend(items)
            if len(self._pending) >= CHUNK:
                self._bin_pending()

    def _bin_pending(self) -> None:
        pending, self._pending = self._pending, []
        for name, counter in self._drift:
            counter.add_many([item.get(name) for item in pending])

    def count_predictions(self, results: list[Any]) -> None:
        """Count what was answered into the prediction's bins (``drift/prediction.py``)."""
        if self._first is not None:
            adopted = self._first.add(results)
            if adopted is not None:
                self._adopt(adopted)
            return
        if self._predicted:  # kept, and binned with the requests' chunk (``_bin_pending``)
            self._answers.extend(results)
            if len(self._answers) >= CHUNK:
                self._bin_answers()

    def _bin_answers(self) -> None:
        answers, self._answers = self._answers, []
        rows = [
            result if isinstance(result, dict) else prediction_values(result) for result in answers
        ]
        for (name, counter), (key, _same) in zip(
            self._predicted, self._predicted_keys, strict=True
        ):
            # a dict answer is read by its key; any other by its prediction field's name
            counter.add_many(
                [
                    row.get(key) if row is result else row.get(name)
                    for row, result in zip(rows, answers, strict=True)
                ]
            )

    def _adopt(self, references: Mapping[str, Reference]) -> None:
        """Start counting predictions against the shared first-served reference."""
        self._first = None
        self.predictions = dict(references)
        self._predicted = [(name, WindowCounts(ref)) for name, ref in self.predictions.items()]
        self._predicted_keys = [(prediction_key(name), c) for name, c in self._predicted]

    def record(self, status: int, seconds: float, body: bytes | None, output: bytes) -> None:
        """Count one request (the hot path: keep it to counters and references)."""
        ms = seconds * 1000.0
        self._requests += 1
        by_status = self._by_status
        by_status[status] = by_status.get(status, 0) + 1
        i = bisect_left(BUCKETS, ms)
        self._counts[i if i < _LAST else _LAST] += 1
        if ms > self._max_ms:
            self._max_ms = ms
        if self._samples_left and random() < self.sample_rate:
            self._samples_left -= 1
            limit = self.max_sample_bytes  # a body too large to keep: only its size, no reference
            kept = body if body is None or len(body) <= limit else len(body)
            self._samples.append(
                (time.time(), status, ms, kept, output if len(output) <= limit else len(output))
            )

    # -- windows -----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close a window every ``interval`` seconds on ``loop`` (call it on that loop)."""
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._open()
        self._timer = loop.call_later(self.interval, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self.flush()
        self._timer = loop.call_later(self.interval, self._tick, loop)

    def close(self) -> Path | None:
        """Stop the timer and write the last window."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return self.flush()

    def flush(self) -> Path | None:
        """Close the current window, open the next; the file written, if any."""
        window = self.window()
        for status, n in self._by_status.items():
            self.totals[status] = self.totals.get(status, 0) + n
        self._previous = self._counts
        self._open()
        if self._first is not None:  # another worker may have made the reference by now
            adopted = self._first.adopt()
            if adopted is not None:
                self._adopt(adopted)
        if window is None or self.directory is None:
            return None
        self._seq += 1
        name = f"window-{window['pid']}-{self._seq}.json"
        temporary = self.directory / f".{name}.tmp"
        try:
            temporary.write_text(json.dumps(window, separators=(",", ":")), encoding="utf-8")
            temporary.replace(self.directory / name)
        except OSError as err:
            logger.warning("could not write the monitor window %s: %s", name, err)
            return None
        return self.directory / name

    def window(self) -> dict[str, Any] | None:
        """The current window as its file holds it; None if it had no request."""
        if not self._requests:
            return None
        return {
            "pid": os.getpid(),
            "function": self.function,
            "version": self.version,
            "start": round(self._start, 3),
            "end": round(time.time(), 3),
            "requests": self._requests,
            **_by_status(self._by_status),
            "buckets": {str(i): n for i, n in enumerate(self._counts) if n},
            "max_ms": round(self._max_ms, 3),
            **self._drift_window(),
            "samples": [
                {
                    "at": round(at, 3),
                    "version": self.version,
                    "status": status,
                    "latency_ms": round(ms, 3),
                    "input": self._payload(body),
                    "output": self._payload(output),
                }
                for at, status, ms, body, output in self._samples
            ],
        }

    def _drift_window(self) -> dict[str, Any]:
        """The window's field counts, as ``merge`` adds them up (nothing without references)."""
        if not self._drift and not self._predicted:
            return {}
        self._bin_pending()
        self._bin_answers()
        return {
            "drift": {
                name: {"counts": c.counts, "missing": c.missing, "invalid": c.invalid}
                for name, c in [*self._drift, *self._predicted]
            }
        }

    def _payload(self, data: bytes | int | None) -> Any:
        """A body as JSON (parsed only here, off the hot path), or what stands for it."""
        if data is None:
            return None  # the body was not read (too large, too slow, the client went away)
        if isinstance(data, int):
            return {"truncated": True, "bytes": data}
        try:
            return json.loads(data, parse_constant=_no_constant)
        except ValueError:  # UnicodeDecodeError too
            return {"not_json": True, "bytes": len(data)}

    # -- /health -----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Totals since start, and percentiles of the last closed and the current window."""
        by_status = dict(self.totals)
        for status, n in self._by_status.items():
            by_status[status] = by_status.get(status, 0) + n
        pairs = enumerate(zip(self._previous, self._counts, strict=True))
        recent = {i: a + b for i, (a, b) in pairs if a + b}
        return {
            "requests": sum(by_status.values()),
            **_by_status(by_status),
            "in_flight": self.in_flight,
            "latency_ms": {f"p{round(q * 100)}": percentile(recent, q) for q in (0.5, 0.9, 0.99)},
            "window": sum(recent.values()),
        }

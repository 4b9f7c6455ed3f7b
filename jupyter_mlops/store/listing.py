"""``list_runs``: filtered, sorted pages of runs with keyset (not OFFSET) pagination.

A page continues strictly after the last row of the previous one, by the sort key plus the
run id as a tie-breaker, so page 200 costs what page 1 costs and a run inserted meanwhile
never shifts a page (no run is shown twice or skipped). The cursor is that key, opaque to
callers (url-safe base64 of a small JSON object).

Sorted by a metric, a listing has two phases: runs that have the metric, walked in the order
of the ``metrics(name, value, run_id)`` index (the database stops after one page instead of
sorting every match), then runs without it, newest first, so they always sort last.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Join, Select, exists, func, literal_column, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from ..errors import StoreError
from .models import MetricRow, RunRow
from .records import RUN_STATUSES

MAX_LIMIT = 1000
METRIC_PREFIX = "metric:"


@dataclass(frozen=True)
class Order:
    """``created_at`` or ``metric:NAME``, either direction."""

    metric: str | None
    descending: bool

    @classmethod
    def parse(cls, order_by: str, descending: bool) -> Order:
        if order_by == "created_at":
            return cls(None, descending)
        if order_by.startswith(METRIC_PREFIX) and order_by[len(METRIC_PREFIX) :]:
            return cls(order_by[len(METRIC_PREFIX) :], descending)
        raise StoreError(f"cannot order runs by {order_by!r}", hint="use created_at or metric:NAME")

    @property
    def name(self) -> str:
        return "created_at" if self.metric is None else METRIC_PREFIX + self.metric


@dataclass(frozen=True)
class Filters:
    notebook: str | None = None
    function: str | None = None
    status: str | None = None
    sweep_id: str | None = None
    executor: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in RUN_STATUSES:
            raise StoreError(
                f"unknown run status {self.status!r}", hint=f"one of {', '.join(RUN_STATUSES)}"
            )

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.notebook is not None:
            found.append(RunRow.notebook == self.notebook)
        if self.function is not None:
            found.append(RunRow.function == self.function)
        if self.status is not None:
            found.append(RunRow.status == self.status)
        if self.sweep_id is not None:
            found.append(RunRow.sweep_id == self.sweep_id)
        if self.executor is not None:
            found.append(RunRow.executor == self.executor)
        return found


@dataclass(frozen=True)
class _Key:
    """Where a row sits in the order: phase 1 (has the metric) by value, else by time."""

    phase: int
    run_id: str
    value: float | None = None
    created_at: datetime | None = None


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise StoreError(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def page_ids(
    session: Session, filters: Filters, order: Order, limit: int, cursor: str | None
) -> tuple[list[str], str | None]:
    """The run ids of one page, in order, and the cursor of the next page (None: last)."""
    after = _decode(cursor, order) if cursor else None
    keys: list[_Key] = []
    if order.metric is None:
        keys = _by_time(session, filters, order, after, limit + 1, without_metric=False)
    else:
        if after is None or after.phase == 1:
            keys = _by_metric(session, filters, order, after, limit + 1)
            after = None
        if len(keys) <= limit:
            keys += _by_time(
                session, filters, order, after, limit + 1 - len(keys), without_metric=True
            )
    more = len(keys) > limit
    keys = keys[:limit]
    return [key.run_id for key in keys], _encode(keys[-1], order) if more else None


def _by_metric(
    session: Session, filters: Filters, order: Order, after: _Key | None, count: int
) -> list[_Key]:
    value, run_id = MetricRow.value, MetricRow.run_id
    on = RunRow.id == run_id
    source = _walk(MetricRow, RunRow, on) if _should_walk(session, filters, count) else None
    query: Select[str, float] = select(run_id, value)
    query = query.select_from(source) if source is not None else query.join(RunRow, on)
    query = query.where(MetricRow.name == order.metric, *filters.clauses())
    if after is not None:
        position = tuple_(value, run_id)
        bound = (after.value, after.run_id)  # bound with the columns' types
        query = query.where(position < bound if order.descending else position > bound)
    if order.descending:
        query = query.order_by(value.desc(), run_id.desc())
    else:
        query = query.order_by(value.asc(), run_id.asc())
    return [_Key(1, row[0], value=row[1]) for row in session.execute(query.limit(count))]


def _should_walk(session: Session, filters: Filters, count: int) -> bool:
    """On SQLite, walk the metric index in order rather than sort every filtered run?

    Walking reads about ``count / share`` index entries (``share``: the part of all runs the
    filters keep); sorting reads every match. SQLite's planner does not weigh the LIMIT, so it
    sorts 14,000 matches where walking would read 400 entries; the counts below (one covering
    index range, one rowid lookup) decide instead. Other backends plan this well themselves.
    """
    if session.get_bind().dialect.name != "sqlite":
        return False
    clauses = filters.clauses()
    if not clauses:
        return True
    matches = session.scalar(select(func.count()).select_from(RunRow).where(*clauses)) or 0
    total = session.scalar(select(func.max(literal_column("rowid"))).select_from(RunRow)) or 0
    return matches * matches > count * total


class _Walk(Join):
    """A join SQLite must run left table first (``CROSS JOIN``); a plain join elsewhere."""

    inherit_cache = True


def _walk(left: type[MetricRow], right: type[RunRow], on: ColumnElement[bool]) -> _Walk:
    return _Walk(left.__table__, right.__table__, on)


@compiles(_Walk, "sqlite")
def _cross_join(join: _Walk, compiler: SQLCompiler, **kw: Any) -> str:
    kw["asfrom"] = True
    assert join.onclause is not None
    left = compiler.process(join.left, **kw)
    right = compiler.process(join.right, **kw)
    return f"{left} CROSS JOIN {right} ON {compiler.process(join.onclause, **kw)}"


def _by_time(
    session: Session,
    filters: Filters,
    order: Order,
    after: _Key | None,
    count: int,
    *,
    without_metric: bool,
) -> list[_Key]:
    created, run_id = RunRow.created_at, RunRow.id
    query: Select[str, datetime] = select(run_id, created).where(*filters.clauses())
    if without_metric:
        has_it = exists().where(MetricRow.run_id == run_id, MetricRow.name == order.metric)
        query = query.where(~has_it)
    # Runs without the metric always come newest first; created_at order follows the flag.
    descending = order.descending or without_metric
    if after is not None:
        position = tuple_(created, run_id)
        bound = (after.created_at, after.run_id)
        query = query.where(position < bound if descending else position > bound)
    if descending:
        query = query.order_by(created.desc(), run_id.desc())
    else:
        query = query.order_by(created.asc(), run_id.asc())
    return [_Key(2, row[0], created_at=row[1]) for row in session.execute(query.limit(count))]


def _encode(key: _Key, order: Order) -> str:
    data = {
        "o": order.name,
        "d": order.descending,
        "p": key.phase,
        "i": key.run_id,
        "v": key.value,
        "t": key.created_at.isoformat() if key.created_at else None,
    }
    text = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, order: Order) -> _Key:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if data["o"] != order.name or data["d"] != order.descending:
            raise StoreError(
                f"this cursor pages runs ordered by {data['o']}, not {order.name}",
                hint="pass the same order_by and descending as for the first page",
            )
        phase = int(data["p"])
        run_id = str(data["i"])
        if phase == 1:
            return _Key(1, run_id, value=float(data["v"]))
        return _Key(phase, run_id, created_at=datetime.fromisoformat(str(data["t"])))
    except StoreError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise StoreError(
            f"invalid cursor {cursor[:40]!r}", hint="use next_cursor exactly as returned"
        ) from None

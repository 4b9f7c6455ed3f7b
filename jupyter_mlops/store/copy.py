"""``store copy``: every row of one store into another (SQLite → PostgreSQL and back).

The tables come from the ORM metadata in foreign-key order, so a table added later is copied
without anyone remembering to list it. Each table is copied in one transaction on the target,
in chunks (one ``executemany`` per chunk), so an interrupted copy leaves whole tables and can
simply be run again: a row already in the target is skipped, never duplicated.

"Already there" means:

- for tables keyed by what they hold (runs by uuid, metrics by run and name, versions by
  hash, aliases by function and name…): a row with the same primary key;
- for the append-only logs keyed by a counter (alias history, deployment events and windows,
  samples, data sets read): a row with the same content, counted as a multiset. Their ids
  are not copied: the target numbers them itself, so two laptops' histories merge into one
  team store without clashing on ``id = 1``, and PostgreSQL's sequences stay right.

A self-reference (``runs.parent_id``) is written in a second pass once every row of the
table is in, so no row has to come before another. Artifact bytes are not rows: they stay
in the artifact folder or URL, which the output says.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, MetaData, Table, func, insert, inspect, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, DBAPIError

from ..errors import StoreError
from . import lineage  # noqa: F401  (registers run_datasets in the metadata)
from .database import Database, parse_url, sqlite_file, unavailable
from .migrate import HEAD, current_revision, upgrade
from .models import Base

logger = logging.getLogger(__name__)

CHUNK = 500  # rows per executemany, and primary keys per existence query


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int  # rows in the source
    copied: int
    already: int  # found in the target, so skipped

    def __str__(self) -> str:
        return f"{self.table}: {self.copied} copied, {self.already} already there"


def tables() -> list[Table]:
    """Every table of the store, parents before children."""
    return list(Base.metadata.sorted_tables)


def copy_store(
    source_url: str,
    target_url: str,
    *,
    chunk: int = CHUNK,
    progress: Callable[[TableCount], None] | None = None,
) -> list[TableCount]:
    """Copy every row of ``source_url`` into ``target_url``; the counts per table."""
    if _same(source_url, target_url):
        raise StoreError("the source and the target of the copy are the same store")
    with _opened(source_url, "source") as source, _opened(target_url, "target") as target:
        _check_source(source)
        _prepare_target(target)
        counts = []
        with source.engine.connect() as reading, reading.begin():  # one consistent snapshot
            for table in tables():
                try:
                    with target.writer.connect() as writing, writing.begin():
                        count = _copy_table(reading, writing, table, chunk)
                except DBAPIError as err:
                    raise StoreError(
                        f"copying table {table.name} to {_show(target)} failed: {_reason(err)}",
                        hint="the tables copied before it are complete; run the copy again",
                    ) from None
                counts.append(count)
                if progress is not None:
                    progress(count)
        return counts


def _same(one: str, other: str) -> bool:
    try:
        return parse_url(one) == parse_url(other)
    except StoreError:
        return False  # reported when it is opened


@contextmanager
def _opened(url: str, role: str) -> Iterator[Database]:
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    if role == "source" and path is not None and not path.is_file():
        raise StoreError(f"the source store {path} does not exist")
    try:
        db = Database(url)
    except (ArgumentError, ImportError) as err:  # an unknown dialect or a missing driver
        raise StoreError(f"the {role} store URL {_masked(url)!r} cannot be used: {err}") from None
    except OSError as err:
        raise unavailable(parsed, err) from None
    try:
        with db.engine.connect():
            pass
    except DBAPIError as err:
        db.dispose()
        if path is not None:
            raise unavailable(parsed, err) from None  # SQLite's faults have their advice
        raise StoreError(
            f"the {role} store {_masked(url)} cannot be reached: {_reason(err)}",
            hint="check the URL, that the server runs, and the user's rights on the database",
        ) from None
    try:
        yield db
    finally:
        db.dispose()


def _masked(url: str) -> str:
    from ..project import mask_url

    return mask_url(url)


def _show(db: Database) -> str:
    path = sqlite_file(db.url)
    return str(path) if path is not None else db.url.render_as_string(hide_password=True)


def _reason(err: DBAPIError) -> str:
    """The driver's message on one line (psycopg adds an indented second line of advice)."""
    words = str(err.orig if err.orig is not None else err).split()
    return " ".join(words)


def _check_source(db: Database) -> None:
    revision = current_revision(db)
    if revision is None:
        raise StoreError(f"{_show(db)} is not a jupyter_mlops store (no schema revision)")
    if revision != HEAD:
        upgrade(db, HEAD)  # what opening it anywhere would do; unknown revisions are refused


def _prepare_target(db: Database) -> None:
    """An empty target is migrated to HEAD; one at HEAD is used; any other is refused."""
    revision = current_revision(db)
    if revision == HEAD:
        return
    if revision is not None:
        raise StoreError(
            f"the target store {_show(db)} is at schema revision {revision}, not {HEAD}",
            hint="open it once with this jupyter_mlops to migrate it, or copy into an empty one",
        )
    with db.engine.connect() as connection:
        names = inspect(connection).get_table_names()
    if names:
        raise StoreError(
            f"the target {_show(db)} holds tables ({', '.join(sorted(names)[:5])}) "
            "but is not a jupyter_mlops store",
            hint="copy into an empty database",
        )
    upgrade(db, HEAD)


def _counter_keyed(table: Table) -> bool:
    """A table whose key is a number it hands out itself (an append-only log)."""
    keys = list(table.primary_key.columns)
    return len(keys) == 1 and keys[0].autoincrement is True and _is_integer(keys[0])


def _is_integer(column: Column[Any]) -> bool:
    try:
        return column.type.python_type is int
    except NotImplementedError:
        return False


def _json_columns(table: Table) -> list[str]:
    return [column.name for column in table.columns if isinstance(column.type, JSON)]


def _target_table(table: Table, sql_nulls: frozenset[str]) -> Table:
    """``table`` for writing rows whose JSON columns ``sql_nulls`` hold SQL NULL.

    A JSON column can hold SQL NULL or the JSON value ``null``; both read as None, and
    SQLAlchemy writes None as ``null`` unless told otherwise. The store's queries tell them
    apart (``drift IS NOT NULL``), so the copy writes each exactly as the source has it.
    """
    copy = table.to_metadata(MetaData())
    for name in sql_nulls:
        copy.c[name].type = JSON(none_as_null=True)
    return copy


def _insert(writing: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One executemany per pattern of SQL NULLs in the JSON columns (usually one)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        nulls = frozenset(name for name in _json_columns(table) if row.pop(_NULL + name))
        groups.setdefault(nulls, []).append(row)
    for nulls, group in groups.items():
        writing.execute(insert(_target_table(table, nulls)), group)


_NULL = "_mlops_copy_is_null_"


def _copy_table(reading: Connection, writing: Connection, table: Table, chunk: int) -> TableCount:
    before = writing.scalar(select(func.count()).select_from(table)) or 0
    counter_keyed = _counter_keyed(table)
    deferred = [
        column.name
        for column in table.columns
        if any(key.column.table is table for key in column.foreign_keys)
    ]
    later: list[dict[str, Any]] = []  # primary key + self-references, for the second pass
    present = _content_counts(writing, table) if counter_keyed else Counter[tuple[Any, ...]]()
    source = copied = already = 0
    nulls = [table.c[name].is_(None).label(_NULL + name) for name in _json_columns(table)]
    query = select(table, *nulls).order_by(*table.primary_key.columns)
    result = reading.execution_options(stream_results=True, yield_per=chunk).execute(query)
    for rows in result.mappings().partitions(chunk):
        source += len(rows)
        if counter_keyed:
            new = _not_counted(table, [dict(row) for row in rows], present)
        else:
            new = _not_present(writing, table, [dict(row) for row in rows])
        already += len(rows) - len(new)
        for row in new:
            if deferred and any(row[name] is not None for name in deferred):
                later.append(
                    {**{c.name: row[c.name] for c in table.primary_key.columns},
                     **{name: row[name] for name in deferred}}
                )  # fmt: skip
                row.update(dict.fromkeys(deferred))
        if new:
            _insert(writing, table, new)
            copied += len(new)
    for row in later:
        where = [column == row[column.name] for column in table.primary_key.columns]
        writing.execute(update(table).where(*where).values({n: row[n] for n in deferred}))
    after = writing.scalar(select(func.count()).select_from(table)) or 0
    if after != before + copied or copied + already != source:
        raise StoreError(
            f"table {table.name}: the counts do not add up ({source} in the source, "
            f"{before} in the target before, {after} after, {copied} copied)",
            hint="another process wrote to the target meanwhile; run the copy again",
        )
    return TableCount(table.name, source, copied, already)


def _content(table: Table) -> list[str]:
    """The columns that say what a log row is: all but its id and JSON payloads."""
    return [
        column.name
        for column in table.columns
        if not column.primary_key and not isinstance(column.type, JSON)
    ]


def _content_counts(writing: Connection, table: Table) -> Counter[tuple[Any, ...]]:
    names = _content(table)
    query = select(*(table.c[name] for name in names))
    return Counter(tuple(row) for row in writing.execute(query))


def _not_counted(
    table: Table, rows: list[dict[str, Any]], present: Counter[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """The rows not yet in the target (each one there matches one source row), without ids."""
    names = _content(table)
    key_name = next(iter(table.primary_key.columns)).name
    new = []
    for row in rows:
        content = tuple(row[name] for name in names)
        if present[content] > 0:
            present[content] -= 1
            continue
        del row[key_name]
        new.append(row)
    return new


def _not_present(
    writing: Connection, table: Table, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rows whose primary key the target does not have."""
    keys: Sequence[Column[Any]] = list(table.primary_key.columns)
    if len(keys) == 1:
        wanted = [row[keys[0].name] for row in rows]
        found = {(value,) for value in writing.scalars(select(keys[0]).where(keys[0].in_(wanted)))}
    else:
        pairs = [tuple(row[key.name] for key in keys) for row in rows]
        query = select(*keys).where(tuple_(*keys).in_(pairs))
        found = {tuple(row) for row in writing.execute(query)}
    return [row for row in rows if tuple(row[key.name] for key in keys) not in found]

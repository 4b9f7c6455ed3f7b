"""Function versions and their aliases, inside a session the Store opened.

A version is named by its sha256; a reference to one is the full hash, an alias of that
function (``production``) or a unique hash prefix of at least four characters, looked up in
that order. An alias points at one version at a time; every move is appended to
``alias_history``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import NotFoundError, StoreError
from .atomic import insert_new, locked
from .lookup import resolve
from .models import AliasHistoryRow, AliasRow, RunRow, VersionRow
from .records import AliasMove, Version

ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_version(function: str, version: str) -> None:
    if not isinstance(function, str) or not function or len(function) > 255:
        raise StoreError(f"invalid function name {function!r} (1 to 255 characters)")
    if not isinstance(version, str) or not _SHA256.fullmatch(version):
        raise StoreError(f"version {version!r} of function {function!r} is not a sha256 hex digest")


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not ALIAS.fullmatch(alias):
        raise StoreError(
            f"alias {alias!r} is not allowed",
            hint="letters, digits, '.', '_' or '-', up to 64, starting with a letter",
        )
    return alias


def register(
    session: Session, function: str, version: str, *, notebook: str, code: str, now: datetime
) -> None:
    """Record a version unless it is known (same hash, same code: nothing to update)."""
    check_version(function, version)
    values = {"notebook": notebook, "code": code, "created_at": now}
    insert_new(session, VersionRow, {"function": function, "version": version, **values})


def resolve_version(session: Session, function: str, ref: str) -> str:
    """The full hash ``ref`` names for ``function``: a hash, an alias or a hash prefix."""
    text = str(ref).strip()
    if _SHA256.fullmatch(text) and session.get(VersionRow, (function, text)) is not None:
        return text
    alias = session.get(AliasRow, (function, text))
    if alias is not None:
        return alias.version
    known = session.scalar(select(VersionRow.version).where(VersionRow.function == function))
    if known is None:
        raise NotFoundError(f"no versions of function {function!r} are recorded")
    return resolve(
        session,
        VersionRow.version,
        text.lower(),
        f"version of {function!r} (or alias)",
        length=64,
        where=VersionRow.function == function,
    )


def records(session: Session, rows: list[VersionRow]) -> list[Version]:
    """Versions with their aliases and run counts (two grouped queries for any number)."""
    if not rows:
        return []
    functions = {row.function for row in rows}
    aliases: dict[tuple[str, str], list[str]] = {}
    for alias in session.scalars(
        select(AliasRow).where(AliasRow.function.in_(functions)).order_by(AliasRow.alias)
    ):
        aliases.setdefault((alias.function, alias.version), []).append(alias.alias)
    counts: dict[tuple[str, str], int] = {}
    query = (
        select(RunRow.function, RunRow.version, func.count())
        .where(RunRow.function.in_(functions))
        .group_by(RunRow.function, RunRow.version)
    )
    for function, version, count in session.execute(query):
        if function is not None and version is not None:
            counts[(function, version)] = int(count)
    return [
        Version(
            function=row.function,
            version=row.version,
            notebook=row.notebook,
            code=row.code,
            created_at=row.created_at,
            aliases=aliases.get((row.function, row.version), []),
            run_count=counts.get((row.function, row.version), 0),
        )
        for row in rows
    ]


def get(session: Session, function: str, version: str) -> Version:
    row = session.get(VersionRow, (function, version))
    if row is None:
        raise NotFoundError(f"no version {version[:12]} of function {function!r}")
    return records(session, [row])[0]


def newest_first(session: Session, function: str) -> list[Version]:
    rows = session.scalars(
        select(VersionRow)
        .where(VersionRow.function == function)
        .order_by(VersionRow.created_at.desc(), VersionRow.version)
    )
    return records(session, list(rows))


def move_alias(
    session: Session,
    function: str,
    version: str,
    alias: str,
    now: datetime,
    actor: str | None = None,
    run_id: str | None = None,
) -> None:
    """Point ``alias`` at ``version`` (and ``run_id``, the run promoted with it), recording
    the move (a no-op if it points there already).

    The alias row is locked (or created in one statement) before it is read, so two moves
    at once on PostgreSQL run one after the other and each records the other's version as
    its ``previous``.
    """
    key = {"function": function, "alias": alias}
    row = {**key, "version": version, "updated_at": now, "run_id": run_id}
    if insert_new(session, AliasRow, row):
        previous = None
    else:
        current = locked(session, AliasRow, (function, alias))
        assert current is not None  # aliases are never deleted
        if current.version == version and current.run_id == run_id:
            return
        # The time of the move is when the alias became ours, not when we asked: the
        # history sorts by it, and a move that waited for another comes after it.
        now = max(now, datetime.now(timezone.utc))
        previous = current.version
        current.version = version
        current.run_id = run_id
        current.updated_at = now
    session.add(
        AliasHistoryRow(
            function=function,
            alias=alias,
            version=version,
            previous=previous,
            moved_at=now,
            run_id=run_id,
            actor=actor,
        )
    )


def history(session: Session, function: str, alias: str | None) -> list[AliasMove]:
    query = select(AliasHistoryRow).where(AliasHistoryRow.function == function)
    if alias is not None:
        query = query.where(AliasHistoryRow.alias == alias)
    query = query.order_by(AliasHistoryRow.moved_at, AliasHistoryRow.id)
    return [
        AliasMove(
            function=row.function,
            alias=row.alias,
            version=row.version,
            previous=row.previous,
            moved_at=row.moved_at,
            actor=row.actor,
            run_id=row.run_id,
        )
        for row in session.scalars(query)
    ]


def code_diff(function: str, old: Version, new: Version) -> str:
    """A unified diff of two versions' code, headed ``function@hash-prefix``; "" if equal."""
    import difflib

    # Lines without their ends: code that ends without a newline would otherwise glue
    # its last removed line to the first added one.
    lines = difflib.unified_diff(
        old.code.splitlines(),
        new.code.splitlines(),
        fromfile=f"{function}@{old.version[:12]}",
        tofile=f"{function}@{new.version[:12]}",
        lineterm="",
    )
    text = "\n".join(lines)
    return text + "\n" if text else ""


def alias_target(session: Session, function: str, alias: str) -> tuple[str, str | None] | None:
    """Where ``alias`` of ``function`` points: (version, run id or None); None if unset."""
    row = session.get(AliasRow, (function, alias))
    return None if row is None else (row.version, row.run_id)


def last_move(session: Session) -> int:
    """The id of the newest alias move of any function (0: none): the primary key's max."""
    return int(session.scalar(select(func.max(AliasHistoryRow.id))) or 0)

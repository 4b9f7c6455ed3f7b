"""Ids by unique prefix: ``get_run("3fa9")`` finds the one run whose id starts with it.

A prefix becomes an index range (``prefix <= id < prefix + "g"``, since ids are lowercase
hex), so a lookup is one index probe on any backend, and two rows are fetched to tell
"unique" from "ambiguous".
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..errors import NotFoundError

MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")


def is_hex_prefix(ref: str, length: int) -> bool:
    return MIN_PREFIX <= len(ref) <= length and _HEX.fullmatch(ref) is not None


def resolve(
    session: Session,
    column: InstrumentedAttribute[str],
    ref: str,
    what: str,
    *,
    length: int = 32,
    where: Any = None,
) -> str:
    """The one full id in ``column`` starting with ``ref``; NotFoundError otherwise."""
    text = str(ref).strip().lower()
    if not is_hex_prefix(text, length):
        raise NotFoundError(
            f"no {what} {ref!r}: give its id or a unique prefix of at least "
            f"{MIN_PREFIX} hex characters"
        )
    query = select(column)
    if len(text) == length:
        query = query.where(column == text)
    else:
        query = query.where(column >= text, column < text + "g")
    if where is not None:
        query = query.where(where)
    found = list(session.scalars(query.order_by(column).limit(2)))
    if not found:
        how = "with id" if len(text) == length else "whose id starts with"
        raise NotFoundError(f"no {what} {how} {text!r}")
    if len(found) > 1:
        shown = ", ".join(value[:12] for value in found)
        raise NotFoundError(
            f"{what} prefix {text!r} is ambiguous: it matches {shown} and maybe more",
            hint="give more characters",
        )
    return found[0]

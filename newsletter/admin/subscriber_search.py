"""The subscriber list: prefix search on the address, a status filter, keyset pagination.

Addresses are stored lower-cased, so a case-insensitive prefix search is an index range on
the unique ``email`` index: ``email >= prefix AND email < next(prefix)``. That range is the
set of addresses starting with the prefix only when the database orders strings by code
point (SQLite, PostgreSQL with the C or C.UTF-8 collation); under a linguistic collation
(en_US, ICU) it is not, and the search falls back to an exact ``LIKE`` (a scan).

Pages are keyset pages, newest first: ``after`` (older than an id) and ``before`` (newer
than an id) never make the database skip over rows, however deep the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select, text
from sqlalchemy.engine import Engine

from ..extensions import db
from ..models import Subscriber, SubscriberStatus

PAGE_SIZE = 50

#: Per engine URL: whether the database's default collation orders by code point.
_code_point_order: dict[str, bool] = {}


@dataclass(frozen=True)
class SubscriberPage:
    rows: list[Subscriber]
    #: How many subscribers match the search and filter in all.
    total: int
    #: Keyset cursors for the neighbouring pages; None where there is none.
    older_than: int | None
    newer_than: int | None


def search(
    prefix: str = "",
    status: SubscriberStatus | None = None,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> SubscriberPage:
    """One page of subscribers whose address starts with ``prefix`` (any case), newest first.

    :param after: show the page of subscribers older than this id (the "next" page).
    :param before: show the page of subscribers newer than this id (the "previous" page).
    """
    conditions = _conditions(prefix.strip().lower(), status)
    total = db.session.execute(select(func.count()).select_from(Subscriber).where(*conditions)).scalar_one()
    query: Select = select(Subscriber).where(*conditions)
    if before is not None:
        rows = list(
            db.session.execute(
                query.where(Subscriber.id > before).order_by(Subscriber.id).limit(size + 1)
            ).scalars()
        )
        has_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        has_older = True
    else:
        if after is not None:
            query = query.where(Subscriber.id < after)
        rows = list(db.session.execute(query.order_by(Subscriber.id.desc()).limit(size + 1)).scalars())
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = after is not None
    return SubscriberPage(
        rows=rows,
        total=total,
        older_than=rows[-1].id if rows and has_older else None,
        newer_than=rows[0].id if rows and has_newer else None,
    )


def _conditions(prefix: str, status: SubscriberStatus | None) -> list:
    conditions = []
    if status is not None:
        conditions.append(Subscriber.status == status)
    if prefix:
        pattern = _escape_like(prefix) + "%"
        if _orders_by_code_point(db.engine):
            conditions += [Subscriber.email >= prefix, Subscriber.email < _successor(prefix)]
        conditions.append(Subscriber.email.like(pattern, escape="\\"))
    return conditions


def _successor(prefix: str) -> str:
    """A string greater than every string that starts with ``prefix`` (and no other)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are not characters a database stores
        last = 0xE000
    if last > 0x10FFFF:
        return prefix + "\U0010ffff"
    return prefix[:-1] + chr(last)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _orders_by_code_point(engine: Engine) -> bool:
    """Whether ``engine``'s database compares text by code point (checked once per URL)."""
    key = str(engine.url)
    if key not in _code_point_order:
        if engine.dialect.name == "sqlite":
            _code_point_order[key] = True  # BINARY collation
        else:
            # Linguistic collations put "a" before "B" and ignore punctuation ("a-z" vs "a.a").
            probe = text("SELECT 'B' < 'a' AND 'a-z' < 'a.a' AND 'john@x' < 'johna'")
            _code_point_order[key] = bool(db.session.execute(probe).scalar())
    return _code_point_order[key]

"""The subscriber list: search anywhere in the address, filters by status and source, keyset
pagination, and the consent date of imported rows.

Addresses are stored lower-cased, so the search is ``email LIKE '%term%'`` with the term
lower-cased and its ``%``, ``_`` and ``\\`` taken literally. On PostgreSQL the trigram index
``ix_subscriber_email_trgm`` (pg_trgm, GIN) answers it for terms of three characters or more;
SQLite scans, which is fast enough for its sizes (bench/admin_search.py).

Pages are keyset pages, newest first: ``after`` (older than an id) and ``before`` (newer
than an id) never make the database skip over rows, however deep the page. The list counts
its matches only up to :data:`COUNT_LIMIT`: counting 150,000 rows (no filter, or a common term
such as "example") on every page would take longer than the page itself (bench/README.md);
the dashboard has the totals per status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select

from ..extensions import db
from ..models import ConsentEvent, ConsentEventType, Subscriber, SubscriberStatus

PAGE_SIZE = 50
#: A search says "more than 1,000 match" rather than counting further.
COUNT_LIMIT = 1000


@dataclass(frozen=True)
class SubscriberPage:
    rows: list[Subscriber]
    #: How many subscribers match the search and filter in all (at most COUNT_LIMIT + 1 when
    #: ``counted_up_to_limit``).
    total: int
    #: Keyset cursors for the neighbouring pages; None where there is none.
    older_than: int | None
    newer_than: int | None
    #: When the consent of an imported subscriber was given (the import's ``consented_at``), by id.
    imported_consent: dict[int, datetime]
    #: Whether counting stopped at COUNT_LIMIT (the page then says "more than").
    counted_up_to_limit: bool = False


def search(
    term: str = "",
    status: SubscriberStatus | None = None,
    *,
    source: str | None = None,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> SubscriberPage:
    """One page of subscribers whose address contains ``term`` (any case), newest first.

    :param source: only those with this source (an import's ``source`` column).
    :param after: show the page of subscribers older than this id (the "next" page).
    :param before: show the page of subscribers newer than this id (the "previous" page).
    """
    term = term.strip().lower()
    conditions = _conditions(term, status, source)
    query: Select = select(Subscriber).where(*conditions)
    if after is None and before is None:
        return _first_page(conditions, size)
    total, capped = _count(conditions)
    if before is not None:
        rows = list(
            db.session.execute(query.where(Subscriber.id > before).order_by(Subscriber.id).limit(size + 1)).scalars()
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
        imported_consent=_imported_consent([row.id for row in rows]),
        counted_up_to_limit=capped,
    )


def _conditions(term: str, status: SubscriberStatus | None, source: str | None) -> list:
    conditions = []
    if status is not None:
        conditions.append(Subscriber.status == status)
    if source:
        conditions.append(Subscriber.source == source)
    if term:
        conditions.append(Subscriber.email.like(f"%{_escape_like(term)}%", escape="\\"))
    return conditions


def _first_page(conditions: list, size: int) -> SubscriberPage:
    """The newest page, counted in the same pass: the ids of up to COUNT_LIMIT + 1 matches,
    newest first, then the rows of the first ``size`` of them (a search that scans, as on
    SQLite, scans once)."""
    ids = list(
        db.session.execute(
            select(Subscriber.id).where(*conditions).order_by(Subscriber.id.desc()).limit(COUNT_LIMIT + 1)
        ).scalars()
    )
    shown = ids[:size]
    rows = (
        list(
            db.session.execute(
                select(Subscriber).where(Subscriber.id.in_(shown)).order_by(Subscriber.id.desc())
            ).scalars()
        )
        if shown
        else []
    )
    return SubscriberPage(
        rows=rows,
        total=len(ids),
        older_than=rows[-1].id if rows and len(ids) > size else None,
        newer_than=None,
        imported_consent=_imported_consent([row.id for row in rows]),
        counted_up_to_limit=len(ids) > COUNT_LIMIT,
    )


def _count(conditions: list) -> tuple[int, bool]:
    """How many rows match (up to COUNT_LIMIT + 1), and whether it stopped there."""
    matches = select(Subscriber.id).where(*conditions).limit(COUNT_LIMIT + 1).subquery()
    total = db.session.execute(select(func.count()).select_from(matches)).scalar_one()
    return total, total > COUNT_LIMIT


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _imported_consent(ids: list[int]) -> dict[int, datetime]:
    """When each imported subscriber among ``ids`` gave consent, as their import recorded it."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(ConsentEvent.subscriber_id, ConsentEvent.detail).where(
            ConsentEvent.subscriber_id.in_(ids), ConsentEvent.type == ConsentEventType.IMPORTED
        )
    )
    consent: dict[int, datetime] = {}
    for subscriber_id, detail in rows:
        try:
            consent[subscriber_id] = datetime.fromisoformat((detail or {})["consented_at"])
        except (KeyError, TypeError, ValueError):  # an erased event's detail is scrubbed
            continue
    return consent


def sources() -> list[str]:
    """Every source some subscriber has, for the filter.

    Read as a loose index scan on ``ix_subscriber_source_id`` (one index probe per distinct
    source), so it costs the same at 150,000 subscribers as at 100."""
    found: list[str] = []
    while len(found) < 200:
        query = select(func.min(Subscriber.source)).where(Subscriber.source.is_not(None))
        if found:
            query = query.where(Subscriber.source > found[-1])
        following = db.session.execute(query).scalar_one_or_none()
        if following is None:
            break
        found.append(following)
    return found

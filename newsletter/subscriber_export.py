"""All subscribers as CSV with their consent evidence, for the admin's download.

The first five columns are the import's (``email,consented_at,confirmed_at,ip,source``), so
the file moves to another instance with ``import-subscribers``; the rest say where each
subscriber stands and how they consented. Erased subscribers have no address and are not in
it. Read in batches of subscribers, so memory stays flat however long the list.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula: an address or a source like ``=HYPERLINK(…)`` would run on
the admin's machine, so every cell passes :func:`newsletter.csvlayout.neutralise`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from .csvlayout import neutralise
from .extensions import db
from .import_columns import COLUMNS, EXPORT_COLUMNS
from .models import ConsentEvent, ConsentEventType, ConsentText, Subscriber

HEADER = (*COLUMNS, *EXPORT_COLUMNS)
BATCH_SIZE = 1000


def csv_chunks() -> Iterator[str]:
    """The whole download: a byte order mark (so Excel reads UTF-8), the header, a chunk of
    lines per batch of subscribers."""
    yield "\ufeff" + _lines([list(HEADER)])
    after = 0
    while True:
        subscribers = db.session.execute(
            select(Subscriber)
            .where(Subscriber.id > after, Subscriber.email.is_not(None))
            .order_by(Subscriber.id)
            .limit(BATCH_SIZE)
        ).scalars().all()
        if not subscribers:
            return
        evidence = _evidence_of([subscriber.id for subscriber in subscribers])
        yield _lines([_row(subscriber, evidence.get(subscriber.id, {})) for subscriber in subscribers])
        after = subscribers[-1].id
        db.session.expunge_all()


def _evidence_of(ids: list[int]) -> dict[int, dict[ConsentEventType, tuple]]:
    """Per subscriber, the latest event of each type: (at, ip, channel, detail, text's SHA-256)."""
    rows = db.session.execute(
        select(
            ConsentEvent.subscriber_id, ConsentEvent.type, ConsentEvent.at, ConsentEvent.ip,
            ConsentEvent.channel, ConsentEvent.detail, ConsentText.sha256,
        )
        .outerjoin(ConsentText, ConsentEvent.consent_text_id == ConsentText.id)
        .where(ConsentEvent.subscriber_id.in_(ids))
        .order_by(ConsentEvent.subscriber_id, ConsentEvent.id)
    ).all()  # fmt: skip
    found: dict[int, dict[ConsentEventType, tuple]] = {}
    for subscriber_id, kind, *event in rows:
        found.setdefault(subscriber_id, {})[kind] = tuple(event)
    return found


def _row(subscriber: Subscriber, events: dict[ConsentEventType, tuple]) -> list[str]:
    requested = events.get(ConsentEventType.REQUESTED)
    confirmed = events.get(ConsentEventType.CONFIRMED)
    imported = events.get(ConsentEventType.IMPORTED)
    consented_at = requested[0] if requested else None
    ip = requested[1] if requested else None
    channel = (requested or imported or (None, None, None))[2]
    if imported and not requested:
        detail = imported[3] or {}
        consented_at = detail.get("consented_at")
        ip = imported[1]
    sha256 = (confirmed or requested or (None,) * 5)[4]
    values = {
        "email": subscriber.email,
        "consented_at": consented_at,
        "confirmed_at": subscriber.confirmed_at,
        "ip": ip,
        "source": subscriber.source,
        "status": subscriber.status.value,
        "channel": channel.value if channel else None,
        "confirm_ip": confirmed[1] if confirmed else None,
        "consent_text_sha256": sha256,
        "locale": subscriber.locale,
        "created_at": subscriber.created_at,
        "withdrawn_at": subscriber.withdrawn_at,
    }
    return [neutralise(_text(values[name])) for name in HEADER]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _lines(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()

"""Reports that come back after the relay said 250: stored first, processed in a step of their own.

:func:`store` writes a report down as received (the bounce listener commits it before it
answers 250, so a worker dying right after loses nothing); :func:`process_waiting` (the
worker's job, ``flask process-bounces``) reads each stored one (:mod:`.report_reading`), finds
whom it is about, and lets :mod:`.delivery.bounces` decide what it does to them. A report
crashing the processing is marked ``unknown`` with the reason and changes nothing; one the
worker died processing is taken again in the next round (the claim is part of the transaction).

Whom a report is about: the delivery its VERP address names (signed, so it cannot be forged);
else the delivery whose Message-ID it quotes (random, as good as a secret); else, for a
bounce only, the subscriber with the failed address. A complaint needs one of the first two:
by the address alone anybody could withdraw anybody.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from . import clock, subscribers, suppression
from .delivery import bounces, verp
from .delivery.replies import printable
from .extensions import db
from .models import (
    BounceEvent,
    BounceKind,
    BounceReport,
    ConsentChannel,
    Delivery,
    ReportKind,
    Subscriber,
)
from .report_reading import Reading, read

logger = logging.getLogger(__name__)

#: Reports processed per round at most.
ROUND = 200
#: How long a processed report is kept as received (then only its kind and note stay).
RAW_KEPT_DAYS = 90
_BOUNCES = {
    ReportKind.HARD: BounceKind.HARD,
    ReportKind.SOFT: BounceKind.SOFT,
    ReportKind.MESSAGE: BounceKind.MESSAGE,
}


def store(raw: bytes, mail_from: str, recipients: list[str]) -> BounceReport:
    """Write a report down as received; flushes, never commits."""
    report = BounceReport(
        received_at=clock.now(),
        mail_from=printable(mail_from or "", 500),
        recipients=[printable(address, 254) for address in recipients[:100]],
        raw=raw,
    )
    db.session.add(report)
    db.session.flush()
    return report


def waiting_ids(limit: int = ROUND) -> list[int]:
    return list(
        db.session.execute(
            select(BounceReport.id).where(BounceReport.processed_at.is_(None)).order_by(BounceReport.id).limit(limit)
        ).scalars()
    )


def process_waiting(limit: int = ROUND) -> int:
    """Process the stored reports not yet processed, each in a transaction of its own (a
    boundary: it commits); returns how many this call processed."""
    done = 0
    for report_id in waiting_ids(limit):
        try:
            done += process(report_id)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            logger.exception("processing bounce report %r failed", report_id)
            _set_aside(report_id, f"could not be processed: {exc!r}")
    return done


def process(report_id: int) -> bool:
    """Claim and process one report; False when another worker did (or does) it. Flushes."""
    now = clock.now()
    claimed = db.session.execute(
        update(BounceReport)
        .where(BounceReport.id == report_id, BounceReport.processed_at.is_(None))
        .values(processed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return False
    report = db.session.get(BounceReport, report_id)
    reading = read(report.raw)
    report.kind = reading.kind
    delivery, subscriber, found_by = _about(report, reading)
    report.delivery_id = delivery.id if delivery is not None else None
    report.subscriber_id = subscriber.id if subscriber is not None else None
    report.note = printable(_apply(report, reading, delivery, subscriber, found_by), 500)
    db.session.flush()
    return True


def _apply(
    report: BounceReport, reading: Reading, delivery: Delivery | None, subscriber: Subscriber | None, found_by: str
) -> str:
    """Do what the report says; returns the note kept with it for the admin."""
    if reading.kind in (ReportKind.AUTO_REPLY, ReportKind.UNKNOWN):
        return f"{reading.kind}: kept, nothing changed" + (f" ({reading.detail})" if reading.detail else "")
    if subscriber is None:
        return f"{reading.kind}: no subscriber found for it; nothing changed"
    if reading.kind is ReportKind.COMPLAINT and found_by == "address":
        return "complaint: names only an address (no VERP address, no Message-ID of ours); nothing changed"
    connection = db.session.connection()
    delivery_id = delivery.id if delivery is not None else None
    if reading.kind is ReportKind.COMPLAINT:
        withdrawn = subscribers.withdraw(subscriber, ConsentChannel.COMPLAINT)
        if subscriber.email is not None:
            suppression.suppress(subscriber.email, "complaint")
        bounces.record(
            subscriber.id, connection, BounceKind.COMPLAINT,
            delivery_id=delivery_id, report_id=report.id, detail=reading.detail,
        )
        return f"complaint (found by {found_by}): " + ("withdrawn and suppressed" if withdrawn else "suppressed")
    suspended = bounces.record(
        subscriber.id, connection, _BOUNCES[reading.kind],
        delivery_id=delivery_id, report_id=report.id, status=reading.status, detail=reading.detail,
    )
    db.session.expire(subscriber)  # the count and status moved under the ORM
    return f"{reading.kind} bounce (found by {found_by})" + (": suspended" if suspended else "")


def _about(report: BounceReport, reading: Reading) -> tuple[Delivery | None, Subscriber | None, str]:
    """(the delivery, the subscriber, how they were found) the report is about."""
    envelope = verp.from_config(current_app.config)
    if envelope is not None:
        for address in report.recipients:
            delivery_id = envelope.delivery_id(address)
            if delivery_id is not None and (delivery := db.session.get(Delivery, delivery_id)) is not None:
                return delivery, delivery.subscriber, "VERP address"
    for message_id in reading.message_ids:
        delivery = db.session.execute(
            select(Delivery).where(Delivery.message_id == message_id).limit(1)
        ).scalar_one_or_none()
        if delivery is not None:
            return delivery, delivery.subscriber, "Message-ID"
    for address in reading.recipients:
        subscriber = db.session.execute(select(Subscriber).where(Subscriber.email == address)).scalar_one_or_none()
        if subscriber is not None:
            return None, subscriber, "address"
    return None, None, "nothing"


def forget_subscribers(ids: list[int]) -> None:
    """For the purge of never-confirmed sign-ups (:mod:`.retention`), before their rows go:
    delete their bounce events, and empty and detach the reports about them. Flushes."""
    db.session.execute(
        delete(BounceEvent).where(BounceEvent.subscriber_id.in_(ids)).execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(BounceReport)
        .where(BounceReport.subscriber_id.in_(ids))
        .values(subscriber_id=None, delivery_id=None, raw=b"", recipients=[])
        .execution_options(synchronize_session=False)
    )


def forget_old_raw(now: datetime) -> int:
    """Empty the reports processed more than RAW_KEPT_DAYS ago (they quote addresses and mails);
    what each was and did stays. Returns how many. Flushes."""
    return db.session.execute(
        update(BounceReport)
        .where(BounceReport.processed_at < now - timedelta(days=RAW_KEPT_DAYS), BounceReport.raw != b"")
        .values(raw=b"", recipients=[])
        .execution_options(synchronize_session=False)
    ).rowcount


def _set_aside(report_id: int, note: str) -> None:
    """Mark a report whose processing failed as unknown, so it is not tried again forever."""
    try:
        db.session.execute(
            update(BounceReport)
            .where(BounceReport.id == report_id, BounceReport.processed_at.is_(None))
            .values(processed_at=clock.now(), kind=ReportKind.UNKNOWN, note=printable(note, 500))
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("could not set bounce report %r aside", report_id)

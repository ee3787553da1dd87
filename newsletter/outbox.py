"""The mail queue: mails are rows written with the change that causes them, sent later.

Nothing here runs on a web request. The sender claims due rows by setting them ``sending``
with a lease, sends them over one reused connection, and records each outcome: ``sent``;
``retrying`` with a backoff for 4xx replies and connection trouble; ``failed`` for 5xx
replies; ``cancelled`` when the recipient may no longer be mailed. A sender that dies leaves
its rows ``sending``; once the lease expires another sender takes them again, so a mail is
never lost, and is repeated only if the sender died between handing it over and recording it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from . import clock, mail, transport
from .extensions import db
from .mailkinds import SPECS
from .models import Delivery, DeliveryStatus, MailKind, Subscriber

logger = logging.getLogger(__name__)

#: Seconds to wait before each retry; after the last one the delivery fails for good.
BACKOFF_SECONDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600)
#: Outcomes recorded per commit: a crash repeats at most this many mails.
COMMIT_EVERY = 20
#: Rows claimed per round; small enough to be sent well within the lease.
CLAIM_BATCH = 100


def enqueue(
    kind: MailKind,
    subscriber: Subscriber,
    *,
    context: dict[str, Any] | None = None,
    digest_id: int | None = None,
) -> Delivery:
    """Queue one mail in the caller's transaction; flushes, never commits."""
    now = clock.now()
    delivery = Delivery(
        kind=kind,
        subscriber=subscriber,
        digest_id=digest_id,
        context=context or {},
        status=DeliveryStatus.QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    db.session.add(delivery)
    db.session.flush()
    return delivery


def cancel_open(subscriber: Subscriber) -> int:
    """Cancel the subscriber's mails that are still waiting; returns how many."""
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.subscriber_id == subscriber.id,
            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.RETRYING]),
        )
        .values(status=DeliveryStatus.CANCELLED)
    )
    return result.rowcount


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed + self.cancelled

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.cancelled += other.cancelled


def _due(now: datetime):
    waiting = and_(
        Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.RETRYING]),
        Delivery.next_attempt_at <= now,
    )
    abandoned = and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now)
    return or_(waiting, abandoned)


def claim(limit: int = CLAIM_BATCH) -> list[int]:
    """Take up to ``limit`` due deliveries for this sender and commit the claim.

    One UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING: on PostgreSQL
    concurrent senders skip each other's rows; SQLite runs the statement under its single
    write lock, and the status condition is re-checked there.
    """
    now = clock.now()
    lease = now + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    due_ids = (
        select(Delivery.id).where(_due(now)).order_by(Delivery.id).limit(limit).with_for_update(skip_locked=True)
    )
    try:
        claimed = db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(due_ids.scalar_subquery()), _due(now))
            .values(status=DeliveryStatus.SENDING, lease_expires_at=lease)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
        db.session.commit()
    except OperationalError:  # SQLite busy with another writer: try next round
        db.session.rollback()
        logger.warning("could not claim deliveries this round; database busy")
        return []
    return sorted(claimed)


def send_pending(limit: int = CLAIM_BATCH) -> SendReport:
    """Claim one batch of due mails and send it; returns what happened to them."""
    report = SendReport()
    ids = claim(limit)
    if not ids:
        return report
    deliveries = db.session.execute(
        select(Delivery).where(Delivery.id.in_(ids)).options(joinedload(Delivery.subscriber)).order_by(Delivery.id)
    ).scalars().all()
    app = current_app._get_current_object()
    with transport.connect(app) as connection:
        for done, delivery in enumerate(deliveries, start=1):
            try:
                _send_one(connection, delivery, report)
            except transport.ConnectionFailure as exc:
                _release(deliveries[done - 1 :], exc.reply, report)
                break
            if done % COMMIT_EVERY == 0:
                db.session.commit()
    db.session.commit()
    return report


def drain(max_rounds: int | None = None) -> SendReport:
    """Send until nothing is due now (or ``max_rounds`` batches were sent)."""
    total = SendReport()
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        report = send_pending()
        total.add(report)
        rounds += 1
        if report.attempted == 0:
            break
    return total


def _send_one(connection, delivery: Delivery, report: SendReport) -> None:
    spec = SPECS[delivery.kind]
    now = clock.now()
    if not spec.eligible(delivery):
        delivery.status = DeliveryStatus.CANCELLED
        report.cancelled += 1
        return
    message = mail.build_message(spec.content(delivery), delivery.subscriber.email, date=now)
    delivery.attempts += 1
    try:
        connection.send(message)
    except transport.ConnectionFailure:
        delivery.attempts -= 1  # never reached the server: not an attempt on this mail
        raise
    except transport.TemporaryFailure as exc:
        _schedule_retry(delivery, exc.reply, report)
        return
    except transport.PermanentFailure as exc:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_reply = exc.reply
        report.failed += 1
        logger.info("delivery %r failed permanently: %s", delivery.id, exc.reply)
        return
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = now
    delivery.message_id = message["Message-ID"]
    delivery.lease_expires_at = None
    report.sent += 1


def _schedule_retry(delivery: Delivery, reply: str, report: SendReport) -> None:
    delivery.last_reply = reply
    if delivery.attempts > len(BACKOFF_SECONDS):
        delivery.status = DeliveryStatus.FAILED
        report.failed += 1
        return
    delay = BACKOFF_SECONDS[max(delivery.attempts - 1, 0)]
    delivery.status = DeliveryStatus.RETRYING
    delivery.next_attempt_at = clock.now() + timedelta(seconds=delay)
    delivery.lease_expires_at = None
    report.retrying += 1


def _release(deliveries: list[Delivery], reply: str, report: SendReport) -> None:
    """The relay is unreachable: give the rest of the batch back, to be tried after a pause."""
    logger.warning("mail relay unreachable, %d mails wait: %s", len(deliveries), reply)
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    for delivery in deliveries:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = retry_at
        delivery.last_reply = reply
        delivery.lease_expires_at = None
        report.retrying += 1

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
from email.message import EmailMessage
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


@dataclass
class _Outgoing:
    """A claimed delivery, composed and ready for the wire (or found no longer eligible)."""

    delivery_id: int
    attempts: int
    message: EmailMessage | None


def send_pending(limit: int = CLAIM_BATCH) -> SendReport:
    """Claim one batch of due mails and send it; returns what happened to them.

    Works in groups of COMMIT_EVERY: compose (read), send (no transaction open, so the
    database is never locked across network I/O), record the outcomes (one short write).
    """
    report = SendReport()
    ids = claim(limit)
    app = current_app._get_current_object()
    with transport.connect(app) as connection:
        for start in range(0, len(ids), COMMIT_EVERY):
            outgoing = _compose(ids[start : start + COMMIT_EVERY])
            outcomes: list[dict[str, Any]] = []
            try:
                for item in outgoing:
                    outcomes.append(_send_one(connection, item))
            except transport.ConnectionFailure as exc:
                unsent = [item.delivery_id for item in outgoing[len(outcomes) :]] + ids[start + COMMIT_EVERY :]
                outcomes.extend(_released(unsent, exc.reply))
                _record(outcomes, report)
                logger.warning("mail relay unreachable, %d mails wait: %s", len(unsent), exc.reply)
                break
            _record(outcomes, report)
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


def _compose(ids: list[int]) -> list[_Outgoing]:
    deliveries = db.session.execute(
        select(Delivery).where(Delivery.id.in_(ids)).options(joinedload(Delivery.subscriber)).order_by(Delivery.id)
    ).scalars().all()
    now = clock.now()
    outgoing = []
    for delivery in deliveries:
        spec = SPECS[delivery.kind]
        message = None
        if spec.eligible(delivery):
            message = mail.build_message(spec.content(delivery), delivery.subscriber.email, date=now)
        outgoing.append(_Outgoing(delivery.id, delivery.attempts, message))
    db.session.commit()  # end the read transaction before talking to the relay
    return outgoing


def _send_one(connection, item: _Outgoing) -> dict[str, Any]:
    if item.message is None:
        return {"id": item.delivery_id, "status": DeliveryStatus.CANCELLED, "lease_expires_at": None}
    attempts = item.attempts + 1
    try:
        connection.send(item.message)
    except transport.ConnectionFailure:
        raise
    except transport.TemporaryFailure as exc:
        return _retry_or_fail(item.delivery_id, attempts, exc.reply)
    except transport.PermanentFailure as exc:
        logger.info("delivery %r failed permanently: %s", item.delivery_id, exc.reply)
        return _outcome(item.delivery_id, DeliveryStatus.FAILED, attempts, last_reply=exc.reply)
    return _outcome(
        item.delivery_id, DeliveryStatus.SENT, attempts,
        sent_at=clock.now(), message_id=item.message["Message-ID"],
    )


def _outcome(delivery_id: int, status: DeliveryStatus, attempts: int, **values: Any) -> dict[str, Any]:
    return {"id": delivery_id, "status": status, "attempts": attempts, "lease_expires_at": None, **values}


def _retry_or_fail(delivery_id: int, attempts: int, reply: str) -> dict[str, Any]:
    if attempts > len(BACKOFF_SECONDS):
        return _outcome(delivery_id, DeliveryStatus.FAILED, attempts, last_reply=reply)
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
    return _outcome(delivery_id, DeliveryStatus.RETRYING, attempts, last_reply=reply, next_attempt_at=retry_at)


def _released(ids: list[int], reply: str) -> list[dict[str, Any]]:
    """Give mails that never reached the relay back to the queue, without counting an attempt."""
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    return [
        {"id": delivery_id, "status": DeliveryStatus.RETRYING, "next_attempt_at": retry_at,
         "last_reply": reply, "lease_expires_at": None}
        for delivery_id in ids
    ]


_REPORT_FIELD = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.RETRYING: "retrying",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.CANCELLED: "cancelled",
}


def _record(outcomes: list[dict[str, Any]], report: SendReport) -> None:
    """Write the outcomes of one group in one short transaction."""
    for outcome in outcomes:
        db.session.execute(update(Delivery).where(Delivery.id == outcome["id"]).values(
            {key: value for key, value in outcome.items() if key != "id"}
        ))
        field = _REPORT_FIELD[outcome["status"]]
        setattr(report, field, getattr(report, field) + 1)
    db.session.commit()

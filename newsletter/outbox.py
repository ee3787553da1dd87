"""The mail queue: mails are rows written with the change that causes them, sent later.

Nothing here runs on a web request. A sender (:mod:`newsletter.sender`) claims due rows by
setting them ``sending`` with a lease, sends them, and records each outcome right after its
hand-over: ``sent``; ``retrying`` with a backoff for 4xx replies; ``failed`` for 5xx replies
(a hard bounce); ``cancelled`` when the recipient may no longer be mailed. Mails that never
reached the relay go back to the queue without counting as an attempt. A sender that dies
leaves its rows ``sending``; once the lease expires another sender takes them again, so a mail
is never lost, and is repeated only if the sender died between hand-over and record — at most
one mail per connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.exc import OperationalError

from . import bounces, clock
from .extensions import db
from .models import Delivery, DeliveryStatus, MailKind, Subscriber

logger = logging.getLogger(__name__)

#: Seconds to wait before each retry; after the last one the delivery fails for good.
BACKOFF_SECONDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600)
#: Rows claimed per round; small enough to be sent well within the lease.
CLAIM_BATCH = 500


def enqueue(
    kind: MailKind,
    subscriber: Subscriber | None,
    *,
    to_address: str | None = None,
    context: dict[str, Any] | None = None,
    digest_id: int | None = None,
) -> Delivery:
    """Queue one mail in the caller's transaction; flushes, never commits.

    ``to_address`` is for mails to nobody's subscription (an admin's test send).
    """
    now = clock.now()
    delivery = Delivery(
        kind=kind,
        subscriber=subscriber,
        to_address=to_address,
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

    def count(self, status: DeliveryStatus) -> None:
        field = status.value
        setattr(self, field, getattr(self, field) + 1)


def _due(now: datetime):
    waiting = and_(
        Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.RETRYING]),
        Delivery.next_attempt_at <= now,
    )
    abandoned = and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now)
    return or_(waiting, abandoned)


def claim(limit: int = CLAIM_BATCH) -> list[int]:
    """Take up to ``limit`` due deliveries for this sender and commit the claim.

    SELECT … FOR UPDATE SKIP LOCKED, then UPDATE … RETURNING those rows, in one transaction:
    on PostgreSQL concurrent senders skip each other's rows; SQLite runs both under its single
    write lock, and the status condition is re-checked there. (Not one statement with the
    SELECT as a subquery: PostgreSQL may re-run such a subquery for every row it updates,
    skipping the rows it just locked, and so claim every due row instead of ``limit``.)
    """
    now = clock.now()
    lease = now + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    try:
        due_ids = db.session.execute(
            select(Delivery.id)
            .where(_due(now))
            .order_by(Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars().all()
        claimed = db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(due_ids), _due(now))
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


def send_pending(limit: int = CLAIM_BATCH):
    """Claim one batch of due mails and send it; returns a :class:`SendReport`."""
    from .sender import Sender

    with Sender(current_app._get_current_object()) as sender:
        return sender.send_batch(limit)


def drain(max_rounds: int | None = None):
    """Send until nothing is due now, the relay is down, or a stop was requested."""
    from .sender import Sender

    with Sender(current_app._get_current_object()) as sender:
        return sender.drain(max_rounds)


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery; :func:`record` writes it."""

    delivery_id: int
    status: DeliveryStatus
    #: Attempts so far, including this one; None leaves the count as it is.
    attempts: int | None = None
    reply: str | None = None
    message_id: str | None = None
    sent_text: str | None = None
    next_attempt_at: datetime | None = None
    #: The subscriber to charge a hard bounce to (5xx).
    bounced_subscriber_id: int | None = None


def sent(delivery_id: int, attempts: int, message_id: str, sent_text: str | None) -> Outcome:
    return Outcome(delivery_id, DeliveryStatus.SENT, attempts, message_id=message_id, sent_text=sent_text)


def cancelled(delivery_id: int) -> Outcome:
    return Outcome(delivery_id, DeliveryStatus.CANCELLED)


def bounced(delivery_id: int, attempts: int, reply: str, subscriber_id: int | None) -> Outcome:
    return Outcome(delivery_id, DeliveryStatus.FAILED, attempts, reply=reply, bounced_subscriber_id=subscriber_id)


def retry_or_fail(delivery_id: int, attempts: int, reply: str) -> Outcome:
    """A temporary failure: try again after the backoff, or give up after the last one."""
    if attempts > len(BACKOFF_SECONDS):
        return Outcome(delivery_id, DeliveryStatus.FAILED, attempts, reply=reply)
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
    return Outcome(delivery_id, DeliveryStatus.RETRYING, attempts, reply=reply, next_attempt_at=retry_at)


def released(delivery_id: int, reply: str) -> Outcome:
    """The mail never reached the relay: back to the queue after a pause, no attempt counted."""
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    return Outcome(delivery_id, DeliveryStatus.RETRYING, reply=reply, next_attempt_at=retry_at)


@contextmanager
def recorder() -> Iterator[Connection]:
    """A database connection of its own for writing outcomes, one per sender thread.

    On PostgreSQL its commits do not wait for the disk (synchronous_commit off): a killed
    sender loses nothing that way, and should the database server itself crash, the worst
    case is a mail sent again, never one lost.
    """
    with db.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("SET synchronous_commit TO OFF")
            connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            if postgres:  # the connection goes back to the pool as it came
                connection.exec_driver_sql("RESET synchronous_commit")
                connection.commit()


_DELIVERY = Delivery.__table__


def record(outcomes: list[Outcome], connection: Connection) -> None:
    """Write outcomes on ``connection`` in one short transaction and commit it.

    Outcomes of the same shape go in one executemany, so a sender's threads can share a
    commit: the database work per mail stays small however fast the relay is.
    """
    if not outcomes:
        return
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for outcome in outcomes:
        values = _values(outcome)
        groups.setdefault(tuple(sorted(values)), []).append(
            {"delivery_id": outcome.delivery_id, **{f"v_{key}": value for key, value in values.items()}}
        )
    for columns, rows in groups.items():
        connection.execute(_update_statement(columns), rows)
    for outcome in outcomes:
        if outcome.bounced_subscriber_id is not None:
            bounces.record(outcome.bounced_subscriber_id, connection)
    connection.commit()


def _values(outcome: Outcome) -> dict[str, Any]:
    values: dict[str, Any] = {"status": outcome.status, "lease_expires_at": None}
    if outcome.attempts is not None:
        values["attempts"] = outcome.attempts
    if outcome.reply is not None:
        values["last_reply"] = outcome.reply[:512]
    if outcome.next_attempt_at is not None:
        values["next_attempt_at"] = outcome.next_attempt_at
    if outcome.status is DeliveryStatus.SENT:
        values.update(sent_at=clock.now(), message_id=outcome.message_id, sent_text=outcome.sent_text)
    return values


@lru_cache(maxsize=16)
def _update_statement(columns: tuple[str, ...]):
    """UPDATE delivery SET <columns> WHERE id = :delivery_id, for executemany."""
    return (
        _DELIVERY.update()
        .where(_DELIVERY.c.id == bindparam("delivery_id"))
        .values({name: bindparam(f"v_{name}", type_=_DELIVERY.c[name].type) for name in columns})
    )

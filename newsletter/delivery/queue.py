"""The mail queue: a mail is a ``delivery`` row written in the transaction of the change
that causes it, and sent later by a sender (:mod:`.sender`), never on a web request.

A sender claims due rows (:func:`claim`) by setting them ``sending`` with a lease of
SEND_LEASE_SECONDS, reads them without the ORM (:func:`load_claimed`), sends them, and
stores each outcome (:mod:`.outcomes`). A live sender renews its leases (:func:`renew`); one
that dies leaves its rows ``sending``, and once their lease has run out another sender claims
them again, so a mail is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Connection, and_, or_, select, text, update
from sqlalchemy.exc import OperationalError

from .. import clock
from ..extensions import db
from ..models import Delivery, DeliveryStatus, MailKind, Subscriber, SubscriberStatus
from ..models.delivery import LEASED_ROWS, WAITING_ROWS

logger = logging.getLogger(__name__)

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
            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.HELD]),
        )
        .values(status=DeliveryStatus.CANCELLED)
    )
    return result.rowcount


def _waiting(now: datetime):
    return and_(text(WAITING_ROWS), Delivery.next_attempt_at <= now)


def _abandoned(now: datetime):
    """Rows a sender claimed and did not finish before its lease ran out: it died."""
    return and_(text(LEASED_ROWS), Delivery.lease_expires_at < now)


def claim(limit: int = CLAIM_BATCH) -> list[int]:
    """Take up to ``limit`` due deliveries for this sender and commit the claim: first the
    abandoned ones (by lease end), then the waiting ones (by when they are due, then in
    the order they were queued).

    SELECT … FOR UPDATE SKIP LOCKED, then UPDATE … RETURNING those rows, in one transaction:
    on PostgreSQL concurrent senders skip each other's rows; SQLite runs both under its single
    write lock, and the status condition is re-checked there. (Not one statement with the
    SELECT as a subquery: PostgreSQL may re-run such a subquery for every row it updates,
    skipping the rows it just locked, and so claim every due row instead of ``limit``.) Each
    SELECT walks a partial index in the order it takes rows (``ix_delivery_leased``,
    ``ix_delivery_waiting``) and stops at ``limit``: one condition for both would be read as a
    scan of every due row, sorted (24 ms a claim halfway through a 100k digest).
    """
    now = clock.now()
    lease = now + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    try:
        due_ids = _locked(_abandoned(now), (Delivery.lease_expires_at,), limit)
        if len(due_ids) < limit:
            due_ids += _locked(_waiting(now), (Delivery.next_attempt_at, Delivery.id), limit - len(due_ids))
        claimed = db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(due_ids), or_(_waiting(now), _abandoned(now)))
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


def _locked(condition, order: tuple, limit: int) -> list[int]:
    """Up to ``limit`` ids of rows meeting ``condition`` in ``order``, locked for this claim."""
    return list(
        db.session.execute(
            select(Delivery.id).where(condition).order_by(*order).limit(limit).with_for_update(skip_locked=True)
        ).scalars()
    )


def refresh_statistics() -> None:
    """Let the database count the queue and the subscribers afresh, in the caller's
    transaction. After a digest's fan-out most of the queue is new (and the subscribers often
    just imported): with the statistics of before, the planner read every waiting row for each
    claim and sorted them instead of walking ``ix_delivery_waiting`` to the limit, and read
    all subscribers to compose 500 mails. A sample of each table, a few milliseconds at 100k
    rows (as the PostgreSQL manual advises after a bulk load)."""
    for table in ("delivery", "subscriber"):
        db.session.execute(text(f"ANALYZE {table}"))


def renew(ids: Collection[int], connection: Connection) -> None:
    """Extend the leases of the claimed mails ``ids`` a live sender still holds to
    SEND_LEASE_SECONDS from now (those still ``sending``), in ``connection``'s transaction.

    A sender renews every third of the lease (:meth:`.sender.Sender._keep_leases`), so a lease
    runs out only when its sender died, however slowly the relay answers.
    """
    until = clock.now() + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    connection.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.SENDING)
        .values(lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class Recipient:
    """What composing a mail needs of its subscriber."""

    id: int
    email: str | None
    status: SubscriberStatus
    locale: str
    confirmed_at: datetime | None
    confirm_nonce: str
    access_nonce: str


@dataclass(frozen=True, slots=True)
class ClaimedMail:
    """A claimed delivery as a sender composes it: plain values, read without the ORM (a
    sender reads thousands of them; the mail kinds read the same names off a Delivery)."""

    id: int
    kind: MailKind
    attempts: int
    digest_id: int | None
    to_address: str | None
    context: dict[str, Any]
    subscriber: Recipient | None

    @property
    def subscriber_id(self) -> int | None:
        return self.subscriber.id if self.subscriber is not None else None


_CLAIMED_COLUMNS = (
    Delivery.id, Delivery.kind, Delivery.attempts, Delivery.digest_id, Delivery.to_address, Delivery.context,
)
_RECIPIENT_COLUMNS = (
    Subscriber.id, Subscriber.email, Subscriber.status, Subscriber.locale, Subscriber.confirmed_at,
    Subscriber.confirm_nonce, Subscriber.access_nonce,
)


def load_claimed(ids: list[int]) -> list[ClaimedMail]:
    """The deliveries ``ids`` with their subscribers as they are now, in id order."""
    rows = db.session.execute(
        select(*_CLAIMED_COLUMNS, *_RECIPIENT_COLUMNS)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    )
    split = len(_CLAIMED_COLUMNS)
    return [
        ClaimedMail(*row[:split], Recipient(*row[split:]) if row[split] is not None else None)
        for row in rows
    ]

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

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.exc import OperationalError

from . import bounces, clock
from .extensions import db
from .models import Delivery, DeliveryStatus, MailKind, Subscriber, SubscriberStatus

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


class Recorder:
    """A sender's own database connections for writing outcomes; a context manager.

    On PostgreSQL the commits do not wait for the disk (synchronous_commit off): a killed
    sender loses nothing that way, and should the database server itself crash, the worst
    case is a mail sent again, never one lost. There, :meth:`record_async` writes a batch
    without hard bounces as one statement on a connection of the event loop, so the sender
    goes on transmitting while PostgreSQL works; everything else goes through :func:`record`.
    """

    def __enter__(self) -> Recorder:
        self._context = db.engine.connect()
        self.connection = self._context.__enter__()
        self._postgres = self.connection.dialect.name == "postgresql"
        if self._postgres:
            self.connection.exec_driver_sql("SET synchronous_commit TO OFF")
            self.connection.commit()
        self._async: Any = None
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.connection.rollback()
            if self._postgres:  # the connection goes back to the pool as it came
                self.connection.exec_driver_sql("RESET synchronous_commit")
                self.connection.commit()
        except Exception:  # a broken connection: the pool must not hand it out again
            self.connection.invalidate()
        finally:
            self._context.__exit__(*exc)

    def record(self, outcomes: list[Outcome]) -> None:
        try:
            record(outcomes, self.connection)
        except Exception:
            self.connection.rollback()
            raise

    async def record_async(self, outcomes: list[Outcome]) -> None:
        if not self._postgres or any(outcome.bounced_subscriber_id is not None for outcome in outcomes):
            self.record(outcomes)
            return
        if self._async is None:
            self._async = await _async_connection()
        try:
            await self._async.execute(_UPDATE_FROM_JSON, _update_parameters(outcomes), prepare=True)
        except Exception:
            await self.aclose()  # a fresh connection for the next batch
            raise

    async def aclose(self) -> None:
        """Close the event loop's connection, if one was opened."""
        if self._async is not None:
            connection, self._async = self._async, None
            await connection.close()


async def _async_connection():
    """A psycopg connection of the event loop, made with SQLAlchemy's own connect arguments;
    autocommit, as each statement it runs is a whole transaction."""
    import psycopg

    engine = db.engine
    args, params = engine.dialect.create_connect_args(engine.url)
    connection = await psycopg.AsyncConnection.connect(*args, **params, autocommit=True)
    await connection.execute("SET synchronous_commit TO OFF")
    return connection


_DELIVERY = Delivery.__table__


def record(outcomes: list[Outcome], connection: Connection) -> None:
    """Write outcomes on ``connection`` in one short transaction and commit it.

    On PostgreSQL a batch is one statement whatever its size (a sender waits for it before
    each hand-over, so its cost bounds the sending rate); elsewhere outcomes of the same shape
    go in one executemany.
    """
    if not outcomes:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_UPDATE_FROM_JSON, _update_parameters(outcomes))
    else:
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


#: The columns an outcome may set, with their SQL types (lease_expires_at is always cleared);
#: a value left out keeps the column as it is.
_OUTCOME_COLUMNS = {
    "status": "varchar",
    "attempts": "integer",
    "last_reply": "varchar",
    "next_attempt_at": "timestamp",
    "sent_at": "timestamp",
    "message_id": "varchar",
    "sent_text": "text",
}
_UPDATE_FROM_JSON = (
    "UPDATE delivery SET lease_expires_at = NULL, "
    + ", ".join(f"{column} = COALESCE(outcome.{column}, delivery.{column})" for column in _OUTCOME_COLUMNS)
    + " FROM json_to_recordset(%(outcomes)s::json) AS outcome(id integer, "
    + ", ".join(f"{column} {kind}" for column, kind in _OUTCOME_COLUMNS.items())
    + ") WHERE delivery.id = outcome.id"
    # The ids again as an array, so the rows are found through the primary key even when the
    # table's statistics are stale (right after a digest's fan-out the planner would scan).
    + " AND delivery.id = ANY(%(ids)s::integer[])"
)


def _update_parameters(outcomes: list[Outcome]) -> dict[str, str]:
    """The parameters of :data:`_UPDATE_FROM_JSON`: every outcome's values as one JSON
    document, so the driver passes one string instead of adapting a parameter per value."""
    rows = [_values(outcome) | {"id": outcome.delivery_id} for outcome in outcomes]
    document = json.dumps([{key: _json_value(value) for key, value in row.items()} for row in rows])
    ids = "{" + ",".join(str(int(row["id"])) for row in rows) + "}"
    return {"outcomes": document, "ids": ids}


def _json_value(value: Any) -> Any:
    """Datetimes as the columns keep them (UTCDateTime: naive UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return value


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

"""What became of each claimed mail, and storing it.

A sender turns every claimed delivery into one :class:`Outcome`: ``sent``; ``retrying``
after the backoff of :data:`BACKOFF_SECONDS` for a 4xx reply, ``failed`` after the last
retry; ``failed`` for a 5xx reply, with a hard bounce (:mod:`.bounces`) only where it refused
the address (:mod:`.replies`); ``cancelled`` when the recipient may no longer be mailed;
``held`` when its digest was stopped (:mod:`.holds`); back in the queue without an attempt
counted when the mail never reached the relay (:func:`after_refusal` maps the relay's answers). A
:class:`Recorder` stores outcomes in batches, one statement per batch on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.exc import OperationalError

from .. import clock
from ..extensions import db
from ..models import Delivery, DeliveryStatus
from . import bounces, holds, queue, replies
from .transports.base import ConnectionFailure, DeliveryError, PermanentFailure

logger = logging.getLogger(__name__)

#: Seconds to wait before each retry; after the last one the delivery fails for good.
BACKOFF_SECONDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600)


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    #: Not attempted: their digest was stopped (:mod:`.holds`).
    held: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed + self.cancelled

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.held += other.held

    def count(self, status: DeliveryStatus) -> None:
        field = status.value
        setattr(self, field, getattr(self, field) + 1)




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
    #: The subscriber to charge a hard bounce to (a 5xx refusing the address).
    bounced_subscriber_id: int | None = None
    #: Added to the delivery's ``handovers``: -1 takes back the hand-over counted before its
    #: final dot, when the mail surely did not reach the relay (:func:`taken_back`).
    handovers: int = 0


def taken_back(outcome: Outcome) -> Outcome:
    """``outcome``, with the hand-over counted for it taken back: the relay refused the mail,
    or it never got as far as its final dot."""
    return replace(outcome, handovers=-1)


def sent(delivery_id: int, attempts: int, message_id: str, sent_text: str | None) -> Outcome:
    return Outcome(delivery_id, DeliveryStatus.SENT, attempts, message_id=message_id, sent_text=sent_text)


def cancelled(delivery_id: int) -> Outcome:
    return Outcome(delivery_id, DeliveryStatus.CANCELLED)


def bounced(delivery_id: int, attempts: int, reply: str, subscriber_id: int | None) -> Outcome:
    return Outcome(delivery_id, DeliveryStatus.FAILED, attempts, reply=reply, bounced_subscriber_id=subscriber_id)


def failed(delivery_id: int, attempts: int, reply: str) -> Outcome:
    """Refused for good, but not for the address: nobody is charged a bounce."""
    return Outcome(delivery_id, DeliveryStatus.FAILED, attempts, reply=reply)


def held(delivery_id: int, reason: str) -> Outcome:
    """Not sent, its digest stopped: waits for an admin, no attempt counted."""
    return Outcome(delivery_id, DeliveryStatus.HELD, reply=reason)


def retry_or_fail(delivery_id: int, attempts: int, reply: str) -> Outcome:
    """A temporary failure: try again after the backoff, or give up after the last one."""
    if attempts > len(BACKOFF_SECONDS):
        return failed(delivery_id, attempts, reply)
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
    return Outcome(delivery_id, DeliveryStatus.RETRYING, attempts, reply=reply, next_attempt_at=retry_at)


def released(delivery_id: int, reply: str) -> Outcome:
    """The mail never reached the relay: back to the queue after a pause, no attempt counted."""
    retry_at = clock.now() + timedelta(seconds=BACKOFF_SECONDS[0])
    return Outcome(delivery_id, DeliveryStatus.RETRYING, reply=reply, next_attempt_at=retry_at)


def after_refusal(delivery_id: int, attempts: int, subscriber_id: int | None, failure: DeliveryError) -> Outcome:
    """What the relay's refusal of a mail does to it (``attempts`` counts this one).

    - the relay cannot take mail now (unreachable, 421, TLS, login, or it refused our
      sender): back to the queue, no attempt counted, nobody bounced;
    - a 5xx reply: failed for good; a hard bounce for the subscriber only if it refused the
      address (SPEC §10: 5.1.x, or 550/551/553 without an enhanced code), none if it refused
      the message or by policy (552, 554, 5.3.x, 5.7.x, …);
    - a 4xx reply or a broken connection mid-mail: retried after the backoff.
    """
    if isinstance(failure, ConnectionFailure):
        return released(delivery_id, failure.reply)
    if isinstance(failure, PermanentFailure):
        refusal = replies.parse(failure.reply)
        if refusal is not None and refusal.kind is replies.Kind.ADDRESS:
            return bounced(delivery_id, attempts, failure.reply, subscriber_id)
        return failed(delivery_id, attempts, failure.reply)
    return retry_or_fail(delivery_id, attempts, failure.reply)


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
        #: The event loop's idle connections: each store in flight has one of its own.
        self._idle: list[Any] = []
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

    def record(self, outcomes: list[Outcome], handovers: Collection[int] = (), renew: Collection[int] = ()) -> None:
        """:func:`record`; on SQLite it waits as long as another writer holds the write lock: a
        mail handed over must never lose its outcome (it would go out again)."""
        while True:
            try:
                record(outcomes, self.connection, handovers, renew)
                return
            except OperationalError as exc:
                self.connection.rollback()
                if not _write_lock_busy(exc):
                    raise
                logger.warning("outcomes wait for SQLite's write lock (another writer holds it): %s", exc.orig)
            except Exception:
                self.connection.rollback()
                raise

    def hold(self, digest_id: int, reason: str) -> None:
        """Hold the digest's mails still waiting (:func:`.holds.hold_waiting`)."""
        try:
            holds.hold_waiting(self.connection, digest_id, reason)
            self.connection.commit()
        except Exception:
            self.connection.rollback()
            raise

    def stores_alone(self, outcomes: list[Outcome], renew: Collection[int] | bool = ()) -> bool:
        """Whether this store goes through :meth:`record` on the app's connection: it then must
        not run beside another store (the renewal touches every row the sender holds, and two
        transactions locking shared rows in different orders could deadlock)."""
        return not self._postgres or bool(renew) or any(o.bounced_subscriber_id is not None for o in outcomes)

    async def record_async(
        self, outcomes: list[Outcome], handovers: Collection[int] = (), renew: Collection[int] = ()
    ) -> None:
        """:meth:`record`; on PostgreSQL without the renewal of leases (every third of the lease)
        or hard bounces, one statement on a connection of the event loop (one per store in
        flight: stores of different mails may overlap, their rows never do)."""
        if self.stores_alone(outcomes, renew):
            self.record(outcomes, handovers, renew)
            return
        connection = self._idle.pop() if self._idle else await _async_connection()
        try:
            await connection.execute(_UPDATE_FROM_JSON, _update_parameters(outcomes, handovers), prepare=True)
        except Exception:
            await connection.close()  # a fresh connection for the next batch
            raise
        self._idle.append(connection)

    async def aclose(self) -> None:
        """Close the event loop's connections, if any were opened."""
        connections, self._idle = self._idle, []
        for connection in connections:
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


def _write_lock_busy(exc: OperationalError) -> bool:
    """Whether SQLite refused a transaction because another connection held its write lock
    beyond the busy timeout: worth waiting for, unlike a broken database."""
    return "database is locked" in str(exc.orig)


_DELIVERY = Delivery.__table__


def record(
    outcomes: list[Outcome], connection: Connection, handovers: Collection[int] = (), renew: Collection[int] = ()
) -> None:
    """Write outcomes on ``connection`` in one short transaction and commit it, with the
    hand-overs about to happen (``handovers``: each delivery's count goes up by one before its
    final dot) and the leases to renew (:func:`.queue.renew`).

    On PostgreSQL a batch is one statement whatever its size (a sender waits for it before
    each hand-over, so its cost bounds the sending rate); elsewhere outcomes of the same shape
    go in one executemany.
    """
    if not outcomes and not handovers and not renew:
        return
    if renew:
        queue.renew(renew, connection)
    if connection.dialect.name == "postgresql":
        if outcomes or handovers:
            connection.exec_driver_sql(_UPDATE_FROM_JSON, _update_parameters(outcomes, handovers))
    else:
        _count_handovers(connection, handovers, 1)
        _count_handovers(connection, [outcome.delivery_id for outcome in outcomes if outcome.handovers], -1)
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
            bounces.refused_at_send(outcome.bounced_subscriber_id, outcome.delivery_id, outcome.reply, connection)
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
    # One UPDATE for the outcomes and the hand-overs about to happen (a row of the second kind
    # carries only its id and handovers = 1: its status and lease stay). Never both for one
    # row: a sender stores a mail's outcome only after its hand-over was counted. One
    # statement rather than a second UPDATE in a WITH: the sender waits for this store before
    # each final dot (100k mails: about 20 µs less per store).
    "UPDATE delivery SET lease_expires_at = CASE WHEN outcome.status IS NULL THEN delivery.lease_expires_at END, "
    "handovers = delivery.handovers + COALESCE(outcome.handovers, 0), "
    + ", ".join(f"{column} = COALESCE(outcome.{column}, delivery.{column})" for column in _OUTCOME_COLUMNS)
    + " FROM json_to_recordset(%(rows)s::json) AS outcome(id integer, handovers integer, "
    + ", ".join(f"{column} {kind}" for column, kind in _OUTCOME_COLUMNS.items())
    + ") WHERE delivery.id = outcome.id"
    # The ids again as an array, so the rows are found through the primary key even when the
    # table's statistics are stale (right after a digest's fan-out the planner would scan).
    + " AND delivery.id = ANY(%(ids)s::integer[])"
)


def _update_parameters(outcomes: list[Outcome], handovers: Collection[int] = ()) -> dict[str, str]:
    """The parameters of :data:`_UPDATE_FROM_JSON`: every row's values as one JSON document,
    so the driver passes one string instead of adapting a parameter per value.

    A sender stores an outcome for every mail, waiting for it before the next hand-over, so
    the rows are built here directly (one dict each, the time asked once per batch)."""
    now = _json_value(clock.now())
    rows: list[dict[str, Any]] = [{"id": delivery_id, "handovers": 1} for delivery_id in handovers]
    for outcome in outcomes:
        row: dict[str, Any] = {"id": outcome.delivery_id, "status": outcome.status.value}
        if outcome.attempts is not None:
            row["attempts"] = outcome.attempts
        if outcome.reply is not None:
            row["last_reply"] = outcome.reply[:512]
        if outcome.next_attempt_at is not None:
            row["next_attempt_at"] = _json_value(outcome.next_attempt_at)
        if outcome.status is DeliveryStatus.SENT:
            row.update(sent_at=now, message_id=outcome.message_id, sent_text=outcome.sent_text)
        if outcome.handovers:
            row["handovers"] = outcome.handovers
        rows.append(row)
    return {"rows": json.dumps(rows), "ids": _array(row["id"] for row in rows)}


def _array(ids) -> str:
    """Ids as a PostgreSQL array literal."""
    return "{" + ",".join(str(int(delivery_id)) for delivery_id in ids) + "}"


def _count_handovers(connection: Connection, ids: Collection[int], change: int) -> None:
    """Add ``change`` to the hand-over count of the deliveries ``ids`` (SQLite)."""
    if ids:
        connection.execute(
            _DELIVERY.update().where(_DELIVERY.c.id.in_(ids)).values(handovers=_DELIVERY.c.handovers + change)
        )


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

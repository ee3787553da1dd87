"""A digest whose mails fail the same way is stopped, instead of burning through the list.

A relay that refuses a digest's content (``552 5.3.4`` too big, ``554 5.7.1`` content
rejected), or every mail of it by policy, would fail every reader's copy in turn and lose the
digest for the whole list, while nothing is wrong with the readers. So each sender watches the
latest :data:`WINDOW` mails of each digest that reached the relay (:class:`Watch`): once more
than half of them were refused for good with the same status code (:mod:`.replies`), it stops
that digest. Its mails not yet handed over are ``held``: not failed, no attempt counted, the
reason in ``last_reply``; no sender takes them (:func:`hold_waiting`) until an admin, having
fixed the cause, resumes the digest (:func:`resume`), and then they go as if new.

Several senders at once each judge the mails they hand over; the first to stop a digest holds
every mail of it still waiting, the others stop on their own count among the mails they had
claimed already.
"""

from __future__ import annotations

from collections import Counter, deque

from sqlalchemy import Connection, select, update

from .. import clock
from ..extensions import db
from ..models import Delivery, DeliveryStatus
from . import replies

#: How many of a digest's latest mails a sender judges it by: once more than half of them
#: were refused the same way, it stops the digest (so STOP_AT of them fail first).
WINDOW = 50
STOP_AT = WINDOW // 2 + 1

_DELIVERY = Delivery.__table__


class Watch:
    """One sender's count of the latest mails of each digest it hands over."""

    def __init__(self) -> None:
        self._latest: dict[int, deque[str | None]] = {}
        self._failures: dict[int, Counter[str]] = {}
        #: digest id -> why this sender stopped it
        self.stopped: dict[int, str] = {}

    def note(self, digest_id: int, status: DeliveryStatus, reply: str | None) -> str | None:
        """Count one of the digest's mails that reached the relay (``status`` sent, failed or
        retrying, ``reply`` the relay's refusal); the reason to stop the digest, the first
        time its latest mails call for it."""
        if digest_id in self.stopped:
            return None
        latest = self._latest.setdefault(digest_id, deque())
        failures = self._failures.setdefault(digest_id, Counter())
        if len(latest) == WINDOW and (dropped := latest.popleft()) is not None:
            failures[dropped] -= 1
        refusal = replies.parse(reply) if status is DeliveryStatus.FAILED and reply else None
        key = refusal.status if refusal is not None and refusal.kind is not replies.Kind.TEMPORARY else None
        latest.append(key)
        if key is None:
            return None
        failures[key] += 1
        if failures[key] < STOP_AT:
            return None
        reason = (
            f"{failures[key]} of the latest {len(latest)} mails of this digest were refused with"
            f" {key} ({replies.printable(reply)}); the rest is held until an admin resumes the digest"
        )
        self.stopped[digest_id] = reason
        del self._latest[digest_id], self._failures[digest_id]
        return reason

    def forget(self, digest_id: int) -> None:
        """Judge the digest afresh (an admin resumed it)."""
        self.stopped.pop(digest_id, None)


def hold_waiting(connection: Connection, digest_id: int, reason: str) -> None:
    """Hold the digest's mails no sender has claimed, on ``connection`` in the caller's
    transaction."""
    connection.execute(
        update(_DELIVERY)
        .where(
            _DELIVERY.c.digest_id == digest_id,
            _DELIVERY.c.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.RETRYING]),
        )
        .values(status=DeliveryStatus.HELD, last_reply=reason[:512])
    )


def stop_reason(digest_id: int) -> str | None:
    """Why the digest was stopped, while any mail of it is held."""
    return db.session.execute(
        select(Delivery.last_reply)
        .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.HELD)
        .limit(1)
    ).scalar()


def resume(digest_id: int) -> int:
    """Queue the digest's held mails again, due now; how many. Flushes, never commits."""
    return db.session.execute(
        update(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.HELD)
        .values(status=DeliveryStatus.QUEUED, next_attempt_at=clock.now(), last_reply=None)
        .execution_options(synchronize_session=False)
    ).rowcount

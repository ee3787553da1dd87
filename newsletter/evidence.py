"""The consent evidence's hash chain: how each event is sealed, and checking that every event
is as recorded (``flask verify-evidence``).

:func:`seal` gives a new event (written only by :func:`newsletter.consent.record` and the
importer) its ``personal_digest`` (a salted hash of IP address and user agent, so erasure can
remove them and the chain still verifies) and its ``hash`` over its whole content and the
previous event's hash (:func:`chain_hash`); consent wordings are kept under their SHA-256
(:func:`text_sha256`).

For every subscriber the events are read oldest first and checked against that chain: each
event's stored hash against its content, its
``prev_hash`` against the event before it ("" for the first), its ``personal_digest``
against the IP address and user agent present, and the last event against
``Subscriber.evidence_head``; and every consent wording against its SHA-256. So a changed
row, a removed row in the middle, at the start or at the end of a chain, a changed wording,
and personal data removed outside an erasure all show, each named by subscriber and event.
The status must also follow from the events: a subscriber marked confirmed without a
confirmation in its evidence is exactly what the evidence is there to rule out.

Subscribers are read in batches by id and their events in one query per batch, so memory
stays flat with any number of subscribers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select

from .extensions import db
from .models import ConsentEvent, ConsentEventType, ConsentText, Subscriber, SubscriberStatus
from .models.consent import STATUS_AFTER


def seal(event: ConsentEvent) -> None:
    """Set a new event's ``personal_digest`` and ``hash``; its ``prev_hash`` (the subscriber's
    evidence head, "" for the first event) must be set already."""
    event.personal_digest = personal_digest(event)
    event.hash = content_hash(event)


def text_sha256(text: str) -> str:
    """The SHA-256 a consent wording is kept and named under."""
    return hashlib.sha256(text.encode()).hexdigest()


def personal_digest(event: ConsentEvent) -> str:
    return personal_digest_of(event.personal_salt, event.ip, event.user_agent)


def personal_digest_of(salt: str | None, ip: str | None, user_agent: str | None) -> str:
    """How the personal columns enter the hash chain: a salted hash of them."""
    return hashlib.sha256(json.dumps([salt, ip, user_agent]).encode()).hexdigest()


def content_hash(event: Any) -> str:
    """The hash that chains ``event`` to its predecessor; covers every column but the id.

    ``event`` is a :class:`ConsentEvent` or a row read for checking (with ``consent_text_sha256``)."""
    return chain_hash(
        subscriber_id=event.subscriber_id,
        type=event.type,
        at=event.at,
        channel=event.channel,
        consent_text_sha256=_text_sha256(event),
        personal_digest=event.personal_digest,
        detail=event.detail,
        prev_hash=event.prev_hash,
    )


def chain_hash(
    *, subscriber_id: int, type: str, at: datetime, channel: str, consent_text_sha256: str | None,
    personal_digest: str, detail: dict[str, Any] | None, prev_hash: str,
) -> str:
    """The chained hash of one event's content (:func:`content_hash`, column by column)."""
    content = {
        "subscriber_id": subscriber_id,
        "type": str(type),
        "at": at.isoformat(),
        "channel": str(channel),
        "consent_text": consent_text_sha256,
        "personal": personal_digest,
        "detail": detail,
        "prev": prev_hash,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


BATCH_SIZE = 1000

@dataclass(frozen=True)
class Problem:
    """Something in the evidence that is not as recorded."""

    #: The subscriber whose evidence it is; None for a consent text (shared by many), or for
    #: the evidence as a whole (with no consent text either).
    subscriber_id: int | None
    #: The event the problem shows at; None for the subscriber as a whole.
    event_id: int | None
    message: str
    consent_text_id: int | None = None

    def __str__(self) -> str:
        if self.subscriber_id is None and self.consent_text_id is None:  # the evidence as a whole
            return self.message
        if self.subscriber_id is None:
            return f"consent text {self.consent_text_id}: {self.message}"
        where = f"subscriber {self.subscriber_id}"
        if self.event_id is not None:
            where += f", event {self.event_id}"
        return f"{where}: {self.message}"


@dataclass
class Summary:
    subscribers: int = 0
    events: int = 0
    problems: int = 0


_EVENT_COLUMNS = (
    ConsentEvent.id,
    ConsentEvent.subscriber_id,
    ConsentEvent.type,
    ConsentEvent.at,
    ConsentEvent.channel,
    ConsentEvent.ip,
    ConsentEvent.user_agent,
    ConsentEvent.detail,
    ConsentEvent.personal_salt,
    ConsentEvent.personal_digest,
    ConsentEvent.prev_hash,
    ConsentEvent.hash,
    ConsentText.sha256.label("consent_text_sha256"),
)


def verify_all(summary: Summary | None = None, batch_size: int = BATCH_SIZE) -> Iterator[Problem]:
    """Every problem in the whole database: the consent texts, then subscriber by subscriber.

    Counts go to ``summary``. Ends the read transaction after each batch (on SQLite every
    transaction holds the write lock), so call it with nothing pending in the session.
    """
    summary = summary if summary is not None else Summary()
    for problem in verify_texts():
        summary.problems += 1
        yield problem
    after = 0
    while True:
        batch = db.session.execute(
            select(Subscriber.id, Subscriber.status, Subscriber.email, Subscriber.evidence_head)
            .where(Subscriber.id > after)
            .order_by(Subscriber.id)
            .limit(batch_size)
        ).all()
        if not batch:
            return
        events = _events_between(batch[0].id, batch[-1].id)
        for subscriber in batch:
            chain = events.get(subscriber.id, [])
            summary.subscribers += 1
            summary.events += len(chain)
            for problem in check_chain(subscriber, chain):
                summary.problems += 1
                yield problem
        after = batch[-1].id
        db.session.rollback()  # end the read transaction; nothing was written


def verify_texts() -> Iterator[Problem]:
    """Consent texts whose wording no longer matches the SHA-256 the events refer to."""
    for text_id, sha256, text in db.session.execute(
        select(ConsentText.id, ConsentText.sha256, ConsentText.text).order_by(ConsentText.id)
    ):
        if text_sha256(text) != sha256:
            message = "wording changed: it no longer matches its SHA-256"
            yield Problem(None, None, message, consent_text_id=text_id)


def verify_subscriber(subscriber: Subscriber) -> list[Problem]:
    """The problems of one subscriber's evidence (for the printable evidence page)."""
    chain = _events_between(subscriber.id, subscriber.id).get(subscriber.id, [])
    return list(check_chain(subscriber, chain))


def _events_between(first_id: int, last_id: int) -> dict[int, list[Any]]:
    rows = db.session.execute(
        select(*_EVENT_COLUMNS)
        .outerjoin(ConsentText, ConsentText.id == ConsentEvent.consent_text_id)
        .where(ConsentEvent.subscriber_id.between(first_id, last_id))
        .order_by(ConsentEvent.subscriber_id, ConsentEvent.id)
    ).all()
    return {key: list(group) for key, group in groupby(rows, key=lambda row: row.subscriber_id)}


CHANGED = "content changed: the stored hash does not match the event"
REMOVED_BEFORE = "the events before this one were removed (it links to a missing event)"
REMOVED_BETWEEN = (
    "an event between event {previous} and this one was removed, or one of them changed"
)
REMOVED_AFTER = "the events after this one were removed (it is not the recorded latest)"
REMOVED_ALL = "all events were removed (the subscriber records a latest event)"


def check_chain(subscriber: Any, events: Sequence[Any]) -> Iterator[Problem]:
    """The problems of one chain: ``subscriber`` and ``events`` (oldest first) as rows or
    models with the columns of :class:`Subscriber` and :class:`ConsentEvent` (plus
    ``consent_text_sha256``)."""
    sid = subscriber.id
    previous: Any = None
    for event in events:
        if event.hash != content_hash(event):
            yield Problem(sid, event.id, CHANGED)
        if previous is None and event.prev_hash != "":
            yield Problem(sid, event.id, REMOVED_BEFORE)
        elif previous is not None and event.prev_hash != previous.hash:
            yield Problem(sid, event.id, REMOVED_BETWEEN.format(previous=previous.id))
        personal = _personal_problem(subscriber, event)
        if personal:
            yield Problem(sid, event.id, personal)
        previous = event
    if (subscriber.evidence_head or "") != (previous.hash if previous is not None else ""):
        if previous is None:
            yield Problem(sid, None, REMOVED_ALL)
        else:
            yield Problem(sid, previous.id, REMOVED_AFTER)
    yield from _status_problems(subscriber, events)


def _status_problems(subscriber: Any, events: Sequence[Any]) -> Iterator[Problem]:
    status = SubscriberStatus(subscriber.status)
    expected = SubscriberStatus.PENDING
    for event in events:
        expected = STATUS_AFTER.get(ConsentEventType(event.type), expected)
    # Bounces suspend without a consent event (newsletter.delivery.bounces): not a change of consent.
    bounced = status is SubscriberStatus.SUSPENDED and expected is SubscriberStatus.CONFIRMED
    if status is not expected and not bounced:
        message = f"status {status.value} does not follow from the events"
        yield Problem(subscriber.id, None, f"{message} (expected {expected.value})")
    if status is SubscriberStatus.ERASED and subscriber.email is not None:
        yield Problem(subscriber.id, None, "erased, but the address is still stored")


def _text_sha256(event: Any) -> str | None:
    if hasattr(event, "consent_text_sha256"):
        return event.consent_text_sha256
    return event.consent_text.sha256 if event.consent_text is not None else None


def _personal_problem(subscriber: Any, event: Any) -> str | None:
    if event.personal_salt is None:  # scrubbed: only erasure does that, and it leaves nothing
        if event.ip is not None or event.user_agent is not None:
            return "IP address or user agent changed (present without the salt proving them)"
        if SubscriberStatus(subscriber.status) is not SubscriberStatus.ERASED:
            return "IP address and user agent were removed, but the subscriber was not erased"
        return None
    recorded = personal_digest_of(event.personal_salt, event.ip, event.user_agent)
    if recorded != event.personal_digest:
        return "IP address or user agent changed"
    return None

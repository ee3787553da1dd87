"""Subscribing and leaving: the domain rules behind the public pages (SPEC §3).

Functions here flush but never commit; the view, command or job that calls them owns the
transaction, so a subscriber, its consent event and its queued mail land together or not at all.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from . import addresscap, clock, consent, suppression, tokens
from .delivery import queue
from .extensions import db
from .models import (
    AddressRequest,
    BounceEvent,
    BounceReport,
    ConsentChannel,
    ConsentEventType,
    ConsentText,
    Delivery,
    MailKind,
    Subscriber,
    SubscriberStatus,
)
from .models.subscriber import new_nonce
from .webhooks import events

logger = logging.getLogger(__name__)


def find_by_email(email: str) -> Subscriber | None:
    return db.session.execute(select(Subscriber).filter_by(email=email)).scalar_one_or_none()


def doi_allowed(email: str) -> bool:
    """Whether ``email`` may get another confirmation mail now (DOI_MAX_PER_ADDRESS per 24 h)."""
    return addresscap.allowed(addresscap.DOI, email, current_app.config["DOI_MAX_PER_ADDRESS"])


def request_subscription(
    email: str,
    *,
    text: ConsentText | None,
    locale: str,
    ip: str | None,
    user_agent: str | None,
    channel: ConsentChannel = ConsentChannel.FORM,
    at: datetime | None = None,
    source_url: str | None = None,
    source: str | None = None,
) -> None:
    """Record a sign-up request for ``email`` (made at ``at``, default now) and queue its
    double-opt-in mail.

    :param source_url, source: noted in the evidence: the page the reader was on (SPEC §8), who
        made the request (the admin API's token name).

    Confirmed addresses are left as they are; an address that already had
    DOI_MAX_PER_ADDRESS confirmation mails in the last 24 hours gets nothing more, however
    many requests for it run at once. The caller shows the same answer in every case, so
    nobody learns whether an address is known.
    """
    addresscap.lock(email)
    subscriber = find_by_email(email)
    if subscriber is not None and subscriber.status is SubscriberStatus.CONFIRMED:
        return
    if not doi_allowed(email):
        logger.info("confirmation mail cap reached for one address; request dropped")
        return
    nonce = new_nonce()  # the newest mail's link is the one that works
    created = False
    if subscriber is None:
        subscriber, created = _new_subscriber(email, locale, nonce)
    subscriber.locale = locale
    subscriber.confirm_nonce = nonce
    detail = {key: value for key, value in (("source_url", source_url), ("source", source)) if value} or None
    consent.record(
        subscriber, ConsentEventType.REQUESTED, channel, text=text, ip=ip, user_agent=user_agent, at=at, detail=detail,
        inserted=created,
    )
    _emit(events.REQUESTED, subscriber)
    queue.enqueue(
        MailKind.CONFIRM,
        subscriber,
        context={"token": tokens.make_confirm_token(subscriber), "nonce": subscriber.confirm_nonce},
    )
    addresscap.count(addresscap.DOI, email)


def _new_subscriber(email: str, locale: str, nonce: str) -> tuple[Subscriber, bool]:
    """The new pending subscriber ``email``, inserted now; or, when a parallel request
    inserted the address first, that one. Whether it was inserted here."""
    subscriber = Subscriber(
        email=email, locale=locale, status=SubscriberStatus.PENDING, confirm_nonce=nonce, created_at=clock.now()
    )
    try:
        with db.session.begin_nested():
            db.session.add(subscriber)
    except IntegrityError:  # the same address signed up in a parallel request
        return find_by_email(email), False
    return subscriber, True


def confirm(subscriber: Subscriber, *, ip: str | None, user_agent: str | None) -> None:
    """Complete the double opt-in; the link that did it stops working."""
    if subscriber.status in (SubscriberStatus.CONFIRMED, SubscriberStatus.ERASED):
        return
    text = _last_requested_text(subscriber)
    consent.record(
        subscriber, ConsentEventType.CONFIRMED, ConsentChannel.LINK, text=text, ip=ip, user_agent=user_agent
    )
    subscriber.bounce_count = 0
    subscriber.confirm_nonce = new_nonce()
    suppression.lift(subscriber.email)  # a new double opt-in is the one way off the list
    _emit(events.CONFIRMED, subscriber)


def _emit(type: str, subscriber: Subscriber) -> None:
    events.emit(
        type, events.subscriber_data(subscriber.id, subscriber.email, subscriber.status), subscriber_id=subscriber.id
    )


def _last_requested_text(subscriber: Subscriber) -> ConsentText | None:
    for event in reversed(consent.history(subscriber)):
        if event.type is ConsentEventType.REQUESTED:
            return event.consent_text
    return None


def withdraw(subscriber: Subscriber, channel: ConsentChannel, *, detail: dict[str, Any] | None = None) -> bool:
    """Withdraw consent and cancel waiting mail; False (and nothing recorded) if not subscribed."""
    # Lock first: of two withdrawals at once (a double click, a provider's repeated one-click
    # POST) the second sees the first one's result and records nothing.
    db.session.refresh(subscriber, with_for_update=True)
    if subscriber.status not in (SubscriberStatus.CONFIRMED, SubscriberStatus.SUSPENDED, SubscriberStatus.PENDING):
        return False
    consent.record(subscriber, ConsentEventType.WITHDRAWN, channel, detail=detail)
    subscriber.confirm_nonce = new_nonce()
    queue.cancel_open(subscriber)
    _emit(events.WITHDRAWN, subscriber)
    return True


#: Why an erased address is on the suppression list, by who erased it.
_SUPPRESSION_REASON = {ConsentChannel.RETENTION: "retention"}


def erase(subscriber: Subscriber, channel: ConsentChannel, *, detail: dict[str, Any] | None = None) -> bool:
    """Erase the subscriber's personal data (SPEC §7, ARCHITECTURE §9.4); False if already erased.

    Records ``erased``, scrubs address, IP addresses and user agents from the subscriber and
    its events (the hash chain stays verifiable), cancels waiting mail, forgets the mail
    texts and server replies kept for its deliveries and the requests for the address still
    waiting for the worker, revokes every confirm and preferences link, and leaves only a
    keyed hash of the address on the suppression list, so imports and admins never mail it
    again. Signing up anew through the form starts a new subscriber.
    Flushes, never commits.
    """
    db.session.refresh(subscriber, with_for_update=True)
    if subscriber.status is SubscriberStatus.ERASED:
        return False
    email = subscriber.email
    consent.record(subscriber, ConsentEventType.ERASED, channel, detail=detail)
    for event in consent.history(subscriber):
        consent.scrub_personal(event)
    subscriber.email = None
    subscriber.confirm_nonce = new_nonce()
    subscriber.access_nonce = new_nonce()
    queue.cancel_open(subscriber)
    _forget_delivery_contents(subscriber)
    events.forget_subscriber(subscriber.id)  # the address leaves the events not yet sent too
    _emit(events.ERASED, subscriber)
    if email is not None:
        # Requests made before the erasure and not yet carried out go with it.
        db.session.execute(delete(AddressRequest).where(AddressRequest.email == email))
        suppression.suppress(email, _SUPPRESSION_REASON.get(channel, "erased"))
    db.session.flush()
    logger.info("subscriber %r erased (%s)", subscriber.id, channel)
    return True


def _forget_delivery_contents(subscriber: Subscriber) -> None:
    # The kept text of a confirmation mail and a server's reply (e.g. "550 <ann@…>: no such
    # user") may both carry the address.
    db.session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber.id)
        .values(to_address=None, sent_text=None, last_reply=None)
    )
    # Bounce reports quote the address, and so may a remote server's diagnostic.
    db.session.execute(update(BounceEvent).where(BounceEvent.subscriber_id == subscriber.id).values(detail=None))
    db.session.execute(
        update(BounceReport).where(BounceReport.subscriber_id == subscriber.id).values(raw=b"", recipients=[])
    )

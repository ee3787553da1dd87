"""Subscribing and leaving: the domain rules behind the public pages (SPEC §3).

Functions here flush but never commit; the view, command or job that calls them owns the
transaction, so a subscriber, its consent event and its queued mail land together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from . import clock, consent, outbox, suppression, tokens
from .extensions import db
from .models import (
    ConsentChannel,
    ConsentEventType,
    ConsentText,
    DoiSend,
    MailKind,
    Subscriber,
    SubscriberStatus,
)
from .models.subscriber import new_nonce

logger = logging.getLogger(__name__)


def find_by_email(email: str) -> Subscriber | None:
    return db.session.execute(select(Subscriber).filter_by(email=email)).scalar_one_or_none()


def _address_hash(email: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"doi-cap\x00" + email.encode(), hashlib.sha256).hexdigest()


def doi_allowed(email: str) -> bool:
    """Whether ``email`` may get another confirmation mail now (DOI_MAX_PER_ADDRESS per 24 h)."""
    since = clock.now() - timedelta(hours=24)
    sent = db.session.execute(
        select(func.count()).select_from(DoiSend).where(
            DoiSend.address_hash == _address_hash(email), DoiSend.sent_at > since
        )
    ).scalar_one()
    return sent < current_app.config["DOI_MAX_PER_ADDRESS"]


def request_subscription(
    email: str,
    *,
    text: ConsentText | None,
    locale: str,
    ip: str | None,
    user_agent: str | None,
    channel: ConsentChannel = ConsentChannel.FORM,
) -> None:
    """Record a sign-up request for ``email`` and queue its double-opt-in mail.

    Confirmed addresses are left as they are; an address that already had
    DOI_MAX_PER_ADDRESS confirmation mails in the last 24 hours gets nothing more. The caller
    shows the same answer in every case, so nobody learns whether an address is known.
    """
    subscriber = find_by_email(email)
    if subscriber is not None and subscriber.status is SubscriberStatus.CONFIRMED:
        return
    if not doi_allowed(email):
        logger.info("confirmation mail cap reached for one address; request dropped")
        return
    if subscriber is None:
        subscriber = _new_subscriber(email, locale)
    subscriber.locale = locale
    subscriber.confirm_nonce = new_nonce()  # the newest mail's link is the one that works
    consent.record(subscriber, ConsentEventType.REQUESTED, channel, text=text, ip=ip, user_agent=user_agent)
    outbox.enqueue(
        MailKind.CONFIRM,
        subscriber,
        context={"token": tokens.make_confirm_token(subscriber), "nonce": subscriber.confirm_nonce},
    )
    db.session.add(DoiSend(address_hash=_address_hash(email), sent_at=clock.now()))
    db.session.flush()


def _new_subscriber(email: str, locale: str) -> Subscriber:
    subscriber = Subscriber(email=email, locale=locale, status=SubscriberStatus.PENDING, created_at=clock.now())
    try:
        with db.session.begin_nested():
            db.session.add(subscriber)
    except IntegrityError:  # the same address signed up in a parallel request
        subscriber = find_by_email(email)
    return subscriber


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


def _last_requested_text(subscriber: Subscriber) -> ConsentText | None:
    for event in reversed(consent.history(subscriber)):
        if event.type is ConsentEventType.REQUESTED:
            return event.consent_text
    return None


def withdraw(subscriber: Subscriber, channel: ConsentChannel) -> bool:
    """Withdraw consent and cancel waiting mail; False (and nothing recorded) if not subscribed."""
    if subscriber.status not in (SubscriberStatus.CONFIRMED, SubscriberStatus.SUSPENDED, SubscriberStatus.PENDING):
        return False
    consent.record(subscriber, ConsentEventType.WITHDRAWN, channel)
    subscriber.confirm_nonce = new_nonce()
    outbox.cancel_open(subscriber)
    return True

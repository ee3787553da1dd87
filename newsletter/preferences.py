"""The preferences page's rules: what it says about the consent, and fresh links by mail.

A preferences link opens the subscriber's own page (status, consent, download, unsubscribe,
erasure). Digests carry one; anybody can ask for a fresh one for an address, and it goes
only to that address, so asking reveals nothing and grants nothing to the one who asks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from . import addresscap, consent
from .delivery import queue
from .models import ConsentEventType, ConsentText, MailKind, Subscriber, SubscriberStatus
from .subscribers import find_by_email

logger = logging.getLogger(__name__)


def request_link(email: str, locale: str) -> None:
    """Queue a mail with a fresh preferences link to ``email`` if it is a known address.

    Unknown and erased addresses get nothing, and neither does an address that already got
    PREFERENCES_LINK_MAX_PER_ADDRESS links in the last 24 hours. The caller shows the same
    answer in every case. Flushes, never commits.
    """
    addresscap.lock(email)
    subscriber = find_by_email(email)
    if subscriber is None or subscriber.status is SubscriberStatus.ERASED:
        return
    limit = current_app.config["PREFERENCES_LINK_MAX_PER_ADDRESS"]
    if not addresscap.allowed(addresscap.PREFERENCES_LINK, email, limit):
        logger.info("preferences link cap reached for subscriber %r; request dropped", subscriber.id)
        return
    # The link itself is made when the mail is sent: no working token waits in the queue.
    queue.enqueue(MailKind.PREFERENCES_LINK, subscriber, context={"locale": locale})
    addresscap.count(addresscap.PREFERENCES_LINK, email)


@dataclass(frozen=True)
class ConsentSummary:
    """The consent as the preferences page states it."""

    #: When the consent was given (confirmed, or the confirmation time of an imported one).
    given_at: datetime | None
    #: The wording agreed to; None for consent taken over by an import.
    text: ConsentText | None
    #: Where an imported consent came from (the import's source column).
    imported_from: str | None
    imported: bool
    #: When the latest request was made that is not confirmed yet (pending subscribers).
    requested_at: datetime | None
    requested_text: ConsentText | None
    withdrawn_at: datetime | None


def consent_summary(subscriber: Subscriber) -> ConsentSummary:
    """The latest consent given, the latest open request, and the withdrawal if any."""
    given = requested = None
    for event in consent.history(subscriber):
        if event.type in (ConsentEventType.CONFIRMED, ConsentEventType.IMPORTED):
            given, requested = event, None
        elif event.type is ConsentEventType.REQUESTED:
            requested = event
    imported = given is not None and given.type is ConsentEventType.IMPORTED
    given_at = given.at if given is not None else None
    if imported and given.detail and given.detail.get("confirmed_at"):
        given_at = datetime.fromisoformat(given.detail["confirmed_at"])
    return ConsentSummary(
        given_at=given_at,
        text=given.consent_text if given is not None else None,
        imported_from=(given.detail or {}).get("source") if imported else None,
        imported=imported,
        requested_at=requested.at if requested is not None else None,
        requested_text=requested.consent_text if requested is not None else None,
        withdrawn_at=subscriber.withdrawn_at if subscriber.status is SubscriberStatus.WITHDRAWN else None,
    )

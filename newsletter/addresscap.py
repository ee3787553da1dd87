"""Per-address caps on mails that anybody can trigger by typing an address into a form.

The sign-up form and the preferences-link form send mail to whatever address is entered; a
cap per address and 24 hours keeps them from being used to flood someone's inbox, whatever
the client (COMPLIANCE item 40). Each kind of mail counts under a keyed hash of its own
(:class:`~newsletter.models.DoiSend` rows), so no address is stored; the rows are purged
after 24 hours (:mod:`newsletter.retention`). The hashes are keyed by SECRET_KEY: rotating it
starts every count afresh once, which costs at most one more cap's worth of mail per address
in those 24 hours (unlike the suppression list, whose key must outlive the data).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from . import clock, txlock
from .extensions import db
from .models import DoiSend

#: The window every cap counts in.
WINDOW = timedelta(hours=24)

#: Confirmation mails (DOI_MAX_PER_ADDRESS).
DOI = "doi-cap"
#: Links to the preferences page (PREFERENCES_LINK_MAX_PER_ADDRESS).
PREFERENCES_LINK = "preferences-link-cap"


def address_hash(kind: str, email: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, kind.encode() + b"\x00" + email.encode(), hashlib.sha256).hexdigest()


def lock(email: str) -> None:
    """Take the address's lock until the transaction ends: requests for one address are
    carried out one after the other, so no cap is overrun by requests running at once.

    The lock is :func:`newsletter.txlock.hold` on the address's keyed hash.
    """
    txlock.hold(address_hash("lock", email))


def allowed(kind: str, email: str, limit: int) -> bool:
    """Whether ``email`` got fewer than ``limit`` mails of ``kind`` in the last 24 hours."""
    since = clock.now() - WINDOW
    sent = db.session.execute(
        select(func.count()).select_from(DoiSend).where(
            DoiSend.address_hash == address_hash(kind, email), DoiSend.sent_at > since
        )
    ).scalar_one()
    return sent < limit


def count(kind: str, email: str) -> None:
    """Count one mail of ``kind`` to ``email``; flushes, never commits."""
    db.session.add(DoiSend(address_hash=address_hash(kind, email), sent_at=clock.now()))
    db.session.flush()

"""The suppression list: addresses that must never be mailed again, kept only as keyed hashes.

An erased address leaves nothing but ``HMAC(SUPPRESSION_KEY, address)`` here, so imports and
admins cannot bring it back; only the person signing up anew through the form (double opt-in)
lifts it. SUPPRESSION_KEY should be set once and never rotated: a new key forgets the list.
Without it, a key is derived from SECRET_KEY.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import delete, select

from . import clock
from .extensions import db
from .models import Suppression


def _key() -> bytes:
    configured = current_app.config.get("SUPPRESSION_KEY")
    if configured:
        return str(configured).encode()
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), b"suppression", hashlib.sha256).digest()


def address_hash(email: str) -> str:
    return hmac.new(_key(), email.encode(), hashlib.sha256).hexdigest()


def is_suppressed(email: str) -> bool:
    found = db.session.execute(select(Suppression.id).filter_by(address_hash=address_hash(email))).first()
    return found is not None


def suppressed_among(emails: list[str]) -> set[str]:
    """The addresses of ``emails`` that are on the list (one query)."""
    by_hash = {address_hash(email): email for email in emails}
    found = db.session.execute(
        select(Suppression.address_hash).where(Suppression.address_hash.in_(list(by_hash)))
    ).scalars()
    return {by_hash[digest] for digest in found}


def suppress(email: str, reason: str) -> None:
    """Put ``email`` on the list (idempotent); flushes, never commits."""
    if not is_suppressed(email):
        db.session.add(Suppression(address_hash=address_hash(email), reason=reason, created_at=clock.now()))
        db.session.flush()


def lift(email: str) -> None:
    """Take ``email`` off the list: only for a new, confirmed double opt-in."""
    db.session.execute(delete(Suppression).where(Suppression.address_hash == address_hash(email)))

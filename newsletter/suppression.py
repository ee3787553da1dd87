"""The suppression list: addresses that must never be mailed again, kept only as keyed hashes.

An erased address leaves nothing but ``HMAC(SUPPRESSION_KEY, address)`` here, so imports and
admins cannot bring it back; only the person signing up anew through the form (double opt-in)
lifts it. The key must outlive the list: SUPPRESSION_KEY when set (set once, never change it:
a new key forgets the list); otherwise a random key generated on the first suppression and
stored with the data (:mod:`.instance_secrets`), so rotating SECRET_KEY forgets nothing.
Databases from before that keep the key their list was made with (migration 0003).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import delete, select

from . import clock, instance_secrets
from .extensions import db
from .models import Suppression

#: The name of the generated key in ``instance_secret``.
KEY_NAME = "suppression-key"


def _key(*, create: bool) -> bytes | None:
    """The list's HMAC key; None when none was ever generated (then the list is empty)."""
    configured = current_app.config.get("SUPPRESSION_KEY")
    if configured:
        return str(configured).encode()
    stored = instance_secrets.get_or_create(KEY_NAME) if create else instance_secrets.get(KEY_NAME)
    return None if stored is None else bytes.fromhex(stored)


def address_hash(email: str) -> str:
    return _hash(_key(create=True), email)


def _hash(key: bytes, email: str) -> str:
    return hmac.new(key, email.encode(), hashlib.sha256).hexdigest()


def is_suppressed(email: str) -> bool:
    return bool(suppressed_among([email]))


def suppressed_among(emails: list[str]) -> set[str]:
    """The addresses of ``emails`` that are on the list (one query)."""
    key = _key(create=False)
    if key is None:  # no key yet: nothing was ever suppressed with one
        return set()
    by_hash = {_hash(key, email): email for email in emails}
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
    key = _key(create=False)
    if key is not None:
        db.session.execute(delete(Suppression).where(Suppression.address_hash == _hash(key, email)))

"""Bearer tokens of the admin API (SPEC §9): ``create-api-token``, the admin's list, and
finding the token a request carries.

A token is 32 random bytes (``nl_`` + URL-safe base64); the table keeps only its SHA-256, which
the unique index finds it by. A fast hash is right here: the token has 256 bits of entropy, so
there is nothing to guess, unlike a password. Use is written down at most once per
:data:`~newsletter.adminsessions.TOUCH_EVERY`, not on every request. Flushes, never commits.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from . import clock
from .adminsessions import TOUCH_EVERY
from .extensions import db
from .models import ApiScope, ApiToken

PREFIX = "nl_"
MAX_NAME_LENGTH = 64


class TokenNameTaken(ValueError):
    """A token of that name exists already."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_name(name: str) -> str:
    """A token's name: one printable line of at most 64 characters (it is the evidence's source)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ValueError(f"the name must be one printable line of 1 to {MAX_NAME_LENGTH} characters")
    return name


def create(name: str, scope: ApiScope) -> str:
    """Store a new token called ``name``; the token itself, which is never stored (show it once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(name=clean_name(name), scope=scope, token_hash=_hash(token), created_at=clock.now())
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        raise TokenNameTaken(name) from None
    return token


def find(token: str) -> ApiToken | None:
    """The token's record, or None for a token never issued or revoked."""
    if not token.startswith(PREFIX):
        return None
    return db.session.execute(select(ApiToken).where(ApiToken.token_hash == _hash(token))).scalar_one_or_none()


def allows(record: ApiToken, method: str) -> bool:
    """Read tokens may only read (GET, HEAD, OPTIONS); write tokens may do everything."""
    return record.scope is ApiScope.WRITE or method in ("GET", "HEAD", "OPTIONS")


def touch(record: ApiToken) -> bool:
    """Note that the token is in use; whether anything was written (at most once a minute)."""
    now = clock.now()
    if record.last_used_at is not None and now - record.last_used_at < TOUCH_EVERY:
        return False
    record.last_used_at = now
    db.session.flush()
    return True


def listed() -> list[ApiToken]:
    return list(db.session.execute(select(ApiToken).order_by(ApiToken.name)).scalars())


def revoke(name: str) -> bool:
    """Revoke (delete) the token called ``name``; whether there was one."""
    return db.session.execute(delete(ApiToken).where(ApiToken.name == name)).rowcount > 0


def revoke_id(token_id: int) -> bool:
    return db.session.execute(delete(ApiToken).where(ApiToken.id == token_id)).rowcount > 0

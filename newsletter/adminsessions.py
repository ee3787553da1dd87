"""Admin sessions held on the server, so that ending one ends it for every copy of the cookie.

Signing in starts an :class:`~newsletter.models.AdminSession`; the signed session cookie carries
its random id, the table only that id's SHA-256. A session is valid while its row exists, it was
used within ADMIN_SESSION_IDLE_MINUTES and it is younger than :data:`MAX_AGE`. Signing out ends
it, a new password ends all of the admin's (:func:`newsletter.admins.create_or_reset`). Use is
written down at most once per :data:`TOUCH_EVERY`, not on every request. Times come from
:mod:`newsletter.clock`. Functions here flush but never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select

from . import clock
from .extensions import db
from .models import AdminSession, AdminUser

#: Any session ends this long after signing in, however active.
MAX_AGE = timedelta(hours=12)
#: How stale the recorded last use may get before a request writes it anew.
TOUCH_EVERY = timedelta(minutes=1)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["ADMIN_SESSION_IDLE_MINUTES"])


def start(admin: AdminUser) -> str:
    """Start a session for ``admin``; the random id for the cookie (never stored as such)."""
    session_id = secrets.token_urlsafe(32)
    now = clock.now()
    db.session.add(AdminSession(admin_id=admin.id, token_hash=_hash(session_id), created_at=now, last_seen_at=now))
    db.session.flush()
    return session_id


def find(session_id: object) -> AdminSession | None:
    """The valid session with this id, or None (unknown, ended, idle too long or too old)."""
    if not isinstance(session_id, str) or not session_id:
        return None
    record = db.session.execute(
        select(AdminSession).where(AdminSession.token_hash == _hash(session_id))
    ).scalar_one_or_none()
    if record is None:
        return None
    now = clock.now()
    if now - record.last_seen_at > _idle_limit() or now - record.created_at > MAX_AGE:
        return None
    return record


def touch(record: AdminSession) -> bool:
    """Note that the session is in use; whether anything was written (at most once a minute)."""
    now = clock.now()
    if now - record.last_seen_at < TOUCH_EVERY:
        return False
    record.last_seen_at = now
    db.session.flush()
    return True


def end(session_id: object) -> None:
    """End the session with this id (signing out); nothing happens for an unknown one."""
    if isinstance(session_id, str) and session_id:
        db.session.execute(delete(AdminSession).where(AdminSession.token_hash == _hash(session_id)))


def end_all(admin: AdminUser) -> int:
    """End every session of ``admin`` (a new password); how many there were."""
    return db.session.execute(delete(AdminSession).where(AdminSession.admin_id == admin.id)).rowcount


def forget_ended(now: datetime) -> int:
    """Delete the sessions that have run out (idle or too old); how many went."""
    return db.session.execute(
        delete(AdminSession).where(
            or_(AdminSession.last_seen_at < now - _idle_limit(), AdminSession.created_at < now - MAX_AGE)
        )
    ).rowcount

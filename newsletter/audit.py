"""The audit log (SPEC §11): every admin action that changes something, who did it and when.

Views call :func:`record` in the transaction of the change, so a change and its record are
committed together or not at all. The log is kept EVIDENCE_RETENTION_DAYS (:func:`forget_old`,
run by the retention job). Functions here flush but never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from . import clock
from .extensions import db
from .models import AdminUser, AuditEvent

PAGE_SIZE = 100


def record(admin: AdminUser, action: str, target: str | None = None, detail: str | None = None) -> AuditEvent:
    """Write down that ``admin`` did ``action`` (a fixed name such as ``digest.send-now``) to
    ``target`` (e.g. ``subscriber 12``)."""
    event = AuditEvent(
        at=clock.now(),
        admin_id=admin.id,
        admin_email=admin.email,
        action=action,
        target=target,
        detail=detail[:2000] if detail else None,
    )
    db.session.add(event)
    db.session.flush()
    return event


@dataclass(frozen=True)
class Filter:
    admin_email: str | None = None
    action: str | None = None
    since: datetime | None = None
    #: Exclusive.
    until: datetime | None = None


def events(chosen: Filter, *, before: int | None = None, size: int = PAGE_SIZE) -> list[AuditEvent]:
    """The newest events matching ``chosen`` (at most ``size + 1``, so a caller sees whether
    there are more), older than the event id ``before``."""
    query = select(AuditEvent)
    if chosen.admin_email:
        query = query.where(AuditEvent.admin_email == chosen.admin_email)
    if chosen.action:
        query = query.where(AuditEvent.action == chosen.action)
    if chosen.since:
        query = query.where(AuditEvent.at >= chosen.since)
    if chosen.until:
        query = query.where(AuditEvent.at < chosen.until)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    return list(db.session.execute(query.order_by(AuditEvent.id.desc()).limit(size + 1)).scalars())


def actions() -> list[str]:
    """Every action name the log holds, for the filter."""
    return list(db.session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars())


def admins() -> list[str]:
    """Every admin address the log names, for the filter."""
    return list(
        db.session.execute(select(AuditEvent.admin_email).distinct().order_by(AuditEvent.admin_email)).scalars()
    )


def forget_old(now: datetime, keep_days: int) -> int:
    """Delete the records older than ``keep_days``; how many went."""
    return db.session.execute(delete(AuditEvent).where(AuditEvent.at < now - timedelta(days=keep_days))).rowcount

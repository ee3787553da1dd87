"""The mail figures operators watch (``/healthz``, ``/metrics``), read from the database.

The worker sends and the web process answers the scrape: in-process counters would see only
one side, so every figure is counted from the rows at the time it is asked for. Both queries
read only indexes: ``delivery`` by ``ix_delivery_status_next_attempt`` (status, next_attempt_at),
``bounce_event`` grouped by kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from .extensions import db
from .models import BounceEvent, BounceKind, Delivery, DeliveryStatus

#: Mails a sender still has to send (claimed ones included).
WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.SENDING)
#: Mails that are due once their next attempt time has come.
DUE = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)


@dataclass(frozen=True)
class MailFigures:
    """Mails per delivery status, and the earliest next attempt among the due ones."""

    by_status: dict[DeliveryStatus, int]
    earliest_attempt: datetime | None

    def count(self, *statuses: DeliveryStatus) -> int:
        return sum(self.by_status.get(status, 0) for status in statuses)

    def oldest_due_age(self, now: datetime) -> float:
        """Seconds the longest-waiting due mail has been due; 0 when none is due."""
        if self.earliest_attempt is None or self.earliest_attempt > now:
            return 0.0
        return (now - self.earliest_attempt).total_seconds()


@dataclass(frozen=True)
class Figures:
    mails: MailFigures
    bounces: dict[BounceKind, int] = field(default_factory=dict)


def mail_figures(statuses: tuple[DeliveryStatus, ...] | None = None) -> MailFigures:
    """One grouped query over the delivery status index: every mail (for /metrics), or only
    those in ``statuses`` (/healthz asks for :data:`WAITING`: a short range of the index, however
    many mails were sent before)."""
    query = select(Delivery.status, func.count(), func.min(Delivery.next_attempt_at)).group_by(Delivery.status)
    if statuses is not None:
        query = query.where(Delivery.status.in_(statuses))
    rows = db.session.execute(query).all()
    by_status = {DeliveryStatus(status): count for status, count, _earliest in rows}
    due = [earliest for status, _count, earliest in rows if status in DUE and earliest is not None]
    return MailFigures(by_status, min(due, default=None))


def bounce_counts() -> dict[BounceKind, int]:
    """Bounces and complaints charged so far, per kind (every kind present)."""
    rows = db.session.execute(select(BounceEvent.kind, func.count()).group_by(BounceEvent.kind)).all()
    counts = dict.fromkeys(BounceKind, 0)
    counts.update({BounceKind(kind): count for kind, count in rows})
    return counts


def read() -> Figures:
    return Figures(mail_figures(), bounce_counts())

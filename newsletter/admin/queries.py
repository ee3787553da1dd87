"""Read-only queries behind the admin pages: counts, the activity chart, digest progress.

Each function answers one question with as few statements as it can, and never loads a
whole table: the dashboard must stay fast with hundreds of thousands of subscribers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import defer

from .. import clock
from ..crontab import cron_trigger
from ..extensions import db
from ..models import (
    BounceEvent,
    BounceKind,
    BounceReport,
    ConsentEvent,
    ConsentEventType,
    Delivery,
    DeliveryStatus,
    Digest,
    Subscriber,
    SubscriberStatus,
)

#: How the chart counts consent events: a completed double opt-in is a sign-up; an import
#: (evidence brought from elsewhere, thousands at once) is counted apart and drawn no bar.
_ACTIVITY_KINDS = {
    ConsentEventType.CONFIRMED: "s",
    ConsentEventType.IMPORTED: "i",
    ConsentEventType.WITHDRAWN: "w",
}


def status_counts() -> dict[SubscriberStatus, int]:
    """How many subscribers are in each status (every status present, zeros included)."""
    rows = db.session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all()
    counts = dict.fromkeys(SubscriberStatus, 0)
    counts.update({status: count for status, count in rows})
    return counts


@dataclass(frozen=True)
class Day:
    day: date
    sign_ups: int
    withdrawals: int
    imports: int = 0


@dataclass(frozen=True)
class Activity:
    days: list[Day]

    @property
    def sign_ups(self) -> int:
        return sum(day.sign_ups for day in self.days)

    @property
    def withdrawals(self) -> int:
        return sum(day.withdrawals for day in self.days)

    @property
    def imports(self) -> int:
        return sum(day.imports for day in self.days)

    @property
    def peak(self) -> int:
        return max([1, *(max(day.sign_ups, day.withdrawals) for day in self.days)])


def daily_activity(days: int = 30) -> Activity:
    """Sign-ups, imports and withdrawals per calendar day in TIMEZONE, the last ``days`` days.

    One grouped query; the day of each event is found by comparing with the local midnights
    (as UTC), which stays right across daylight-saving changes on every database.
    """
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    today = clock.now().astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    midnights = [_utc_midnight(first + timedelta(days=offset), zone) for offset in range(1, days)]
    bucket = case(
        *[(ConsentEvent.at < midnight, index) for index, midnight in enumerate(midnights)], else_=days - 1
    ).label("bucket")
    kind = case(
        *[(ConsentEvent.type == event, which) for event, which in _ACTIVITY_KINDS.items()]
    ).label("kind")
    rows = db.session.execute(
        select(bucket, kind, func.count())
        .where(
            ConsentEvent.at >= _utc_midnight(first, zone),
            ConsentEvent.type.in_(list(_ACTIVITY_KINDS)),
        )
        .group_by(bucket, kind)
    ).all()
    counts = {(int(index), which): count for index, which, count in rows}
    return Activity(
        [
            Day(
                first + timedelta(days=index),
                sign_ups=counts.get((index, "s"), 0),
                withdrawals=counts.get((index, "w"), 0),
                imports=counts.get((index, "i"), 0),
            )
            for index in range(days)
        ]
    )


def _utc_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def next_digest_at() -> datetime | None:
    """When DIGEST_SCHEDULE next fires, in TIMEZONE; None if the line is not a valid schedule."""
    config = current_app.config
    try:
        trigger = cron_trigger(config["DIGEST_SCHEDULE"], config["TIMEZONE"])
    except ValueError:
        return None
    return trigger.get_next_fire_time(None, clock.now().astimezone(ZoneInfo(config["TIMEZONE"])))


@dataclass
class DeliveryCounts:
    """Where a digest's deliveries stand. ``queued`` covers everything a sender has still to
    do; ``held`` the mails of a stopped digest, waiting for an admin to resume it."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    held: int = 0
    #: Readers whose mail of it bounced (hard or soft) or drew a complaint, at send time or
    #: by a report that came back later (:mod:`newsletter.bounce_reports`).
    bounced: int = 0
    complaints: int = 0
    by_status: dict[DeliveryStatus, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.queued + self.sent + self.failed + self.cancelled + self.held

    @property
    def retrying(self) -> int:
        """Of ``queued``: temporarily refused, waiting for the next attempt."""
        return self.by_status.get(DeliveryStatus.RETRYING, 0)

    @property
    def done(self) -> bool:
        """Whether no sender has anything more to do with it (finished, or stopped)."""
        return self.queued == 0

    @property
    def percent(self) -> int:
        """How much of the digest is finished (sent, failed or cancelled), 0–100."""
        if self.total == 0:
            return 100
        return (self.total - self.queued - self.held) * 100 // self.total

    def as_json(self) -> dict[str, object]:
        return {
            "queued": self.queued,
            "sent": self.sent,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "held": self.held,
            "bounced": self.bounced,
            "complaints": self.complaints,
            "retrying": self.retrying,
            "total": self.total,
            "percent": self.percent,
            "done": self.done,
        }


_OPEN = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)


def delivery_counts(digest_ids: Iterable[int]) -> dict[int, DeliveryCounts]:
    """Delivery counts per digest for the given digests, in one grouped query."""
    ids = list(digest_ids)
    result = {digest_id: DeliveryCounts() for digest_id in ids}
    if not ids:
        return result
    rows = db.session.execute(
        select(Delivery.digest_id, Delivery.status, func.count())
        .where(Delivery.digest_id.in_(ids))
        .group_by(Delivery.digest_id, Delivery.status)
    ).all()
    for digest_id, status, count in rows:
        counts = result[digest_id]
        counts.by_status[status] = count
        if status in _OPEN:
            counts.queued += count
        elif status is DeliveryStatus.SENT:
            counts.sent += count
        elif status is DeliveryStatus.FAILED:
            counts.failed += count
        elif status is DeliveryStatus.HELD:
            counts.held += count
        else:
            counts.cancelled += count
    _count_bounces(result)
    return result


def _count_bounces(result: dict[int, DeliveryCounts]) -> None:
    """Add the readers each digest bounced for, or drew complaints from (one grouped query)."""
    rows = db.session.execute(
        select(BounceEvent.digest_id, BounceEvent.kind, func.count(BounceEvent.subscriber_id.distinct()))
        .where(BounceEvent.digest_id.in_(list(result)))
        .group_by(BounceEvent.digest_id, BounceEvent.kind)
    ).all()
    for digest_id, kind, count in rows:
        if kind in (BounceKind.HARD, BounceKind.SOFT):
            result[digest_id].bounced += count
        elif kind is BounceKind.COMPLAINT:
            result[digest_id].complaints += count


def recent_digests(limit: int = 5, before_id: int | None = None) -> list[Digest]:
    """The newest digests, newest first; ``before_id`` pages further back."""
    query = select(Digest).order_by(Digest.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Digest.id < before_id)
    return list(db.session.execute(query).scalars())


def deliveries_with_problems(digest_id: int, limit: int = 200) -> list[Delivery]:
    """The digest's failed and retrying deliveries, each with the SMTP server's last reply."""
    return list(
        db.session.execute(
            select(Delivery)
            .where(
                Delivery.digest_id == digest_id,
                Delivery.status.in_([DeliveryStatus.FAILED, DeliveryStatus.RETRYING]),
            )
            .order_by(Delivery.id)
            .limit(limit)
        ).scalars()
    )


def recent_reports(limit: int, before_id: int | None = None) -> list[BounceReport]:
    """The newest bounce reports, newest first (their raw text left unloaded); ``before_id`` pages back."""
    query = select(BounceReport).options(defer(BounceReport.raw)).order_by(BounceReport.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(BounceReport.id < before_id)
    return list(db.session.execute(query).scalars())


def subscriber_bounces(subscriber_id: int, limit: int = 100) -> list[BounceEvent]:
    """The bounces and complaints of one subscriber, newest first."""
    return list(
        db.session.execute(
            select(BounceEvent)
            .where(BounceEvent.subscriber_id == subscriber_id)
            .order_by(BounceEvent.id.desc())
            .limit(limit)
        ).scalars()
    )


def subscriber_deliveries(subscriber_id: int, limit: int = 100) -> list[Delivery]:
    """The mails to one subscriber, newest first."""
    return list(
        db.session.execute(
            select(Delivery)
            .where(Delivery.subscriber_id == subscriber_id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        ).scalars()
    )

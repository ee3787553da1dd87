"""What a failed delivery does to its subscriber, whether the relay refused it at send time
or a report came back later (:mod:`newsletter.bounce_reports`): the one place that decides.

- a hard bounce (the address failed for good: :mod:`.replies` reads 5.1.x, or 550/551/553
  without an enhanced code) counts; BOUNCE_LIMIT of them suspend the subscriber;
- a soft bounce (a temporary failure reported after the hand-over) counts within
  SOFT_BOUNCE_WINDOW_DAYS; SOFT_BOUNCE_LIMIT of them in that window suspend the subscriber;
- a refusal of the message or by policy, and a complaint (withdrawn elsewhere), count nothing.

Each is a ``bounce_event`` row: the subscriber's history, the export and the digest counts show it.
Suspension is not a consent event (the person did not withdraw), so it is recorded here and
not in the consent ledger; a new double opt-in (subscribers.confirm) lifts it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import Connection, func, select

from .. import clock
from ..models import BounceEvent, BounceKind, Delivery, Subscriber, SubscriberStatus
from ..webhooks import events
from . import replies

logger = logging.getLogger(__name__)


_SUBSCRIBER = Subscriber.__table__
_EVENT = BounceEvent.__table__
_DELIVERY = Delivery.__table__


def record(
    subscriber_id: int,
    connection: Connection,
    kind: BounceKind = BounceKind.HARD,
    *,
    delivery_id: int | None = None,
    report_id: int | None = None,
    status: str | None = None,
    detail: str | None = None,
) -> bool:
    """Record one bounce (or complaint) of ``kind`` for the subscriber, on ``connection`` in the
    caller's transaction; returns whether it suspended the subscriber."""
    now = clock.now()
    digest_id = None
    if delivery_id is not None:
        digest_id = connection.execute(select(_DELIVERY.c.digest_id).where(_DELIVERY.c.id == delivery_id)).scalar()
    connection.execute(
        _EVENT.insert().values(
            subscriber_id=subscriber_id, delivery_id=delivery_id, digest_id=digest_id, report_id=report_id,
            kind=kind, at=now, status=status, detail=replies.printable(detail, 500) if detail else None,
        )
    )
    if kind in (BounceKind.HARD, BounceKind.SOFT):
        _emit(events.BOUNCED, subscriber_id, connection, kind=str(kind), bounce_status=status)
    config = current_app.config
    if kind is BounceKind.HARD:
        connection.execute(
            _SUBSCRIBER.update()
            .where(_SUBSCRIBER.c.id == subscriber_id)
            .values(bounce_count=_SUBSCRIBER.c.bounce_count + 1)
        )
        over_limit = _SUBSCRIBER.c.bounce_count >= config["BOUNCE_LIMIT"]
    elif kind is BounceKind.SOFT:
        window_start = now - timedelta(days=config["SOFT_BOUNCE_WINDOW_DAYS"])
        soft = connection.execute(
            select(func.count()).where(
                _EVENT.c.subscriber_id == subscriber_id, _EVENT.c.kind == BounceKind.SOFT, _EVENT.c.at >= window_start
            )
        ).scalar_one()
        if soft < config["SOFT_BOUNCE_LIMIT"]:
            return False
        over_limit = None
    else:
        return False
    suspend = _SUBSCRIBER.update().where(
        _SUBSCRIBER.c.id == subscriber_id, _SUBSCRIBER.c.status == SubscriberStatus.CONFIRMED
    )
    if over_limit is not None:
        suspend = suspend.where(over_limit)
    suspended = connection.execute(suspend.values(status=SubscriberStatus.SUSPENDED)).rowcount
    if suspended:
        logger.info("subscriber %r suspended after %s bounces", subscriber_id, kind)
        _emit(events.SUSPENDED, subscriber_id, connection)
    return bool(suspended)


def _emit(type: str, subscriber_id: int, connection: Connection, **more) -> None:
    email, status = connection.execute(
        select(_SUBSCRIBER.c.email, _SUBSCRIBER.c.status).where(_SUBSCRIBER.c.id == subscriber_id)
    ).one()
    data = events.subscriber_data(subscriber_id, email, status, **more)
    events.emit(type, data, subscriber_id=subscriber_id, connection=connection)


def refused_at_send(subscriber_id: int, delivery_id: int, reply: str | None, connection: Connection) -> None:
    """The relay refused the address of ``delivery_id`` (a 5xx, :func:`.outcomes.after_refusal`)."""
    refusal = replies.parse(reply or "")
    record(
        subscriber_id, connection, BounceKind.HARD,
        delivery_id=delivery_id, status=refusal.status if refusal else None, detail=reply,
    )

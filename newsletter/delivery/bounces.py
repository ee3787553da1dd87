"""Hard bounces: a 5xx reply refusing the address (:mod:`.replies`) counts against it;
BOUNCE_LIMIT of them suspend it. A refusal of the message or by policy counts nothing here.

Suspension is not a consent event (the person did not withdraw), so it is recorded here and
not in the consent ledger; a new double opt-in (subscribers.confirm) lifts it.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import Connection

from ..models import Subscriber, SubscriberStatus

logger = logging.getLogger(__name__)


_SUBSCRIBER = Subscriber.__table__


def record(subscriber_id: int, connection: Connection) -> None:
    """Count one hard bounce for the subscriber and suspend it at BOUNCE_LIMIT, on
    ``connection`` in the caller's transaction."""
    connection.execute(
        _SUBSCRIBER.update()
        .where(_SUBSCRIBER.c.id == subscriber_id)
        .values(bounce_count=_SUBSCRIBER.c.bounce_count + 1)
    )
    suspended = connection.execute(
        _SUBSCRIBER.update()
        .where(
            _SUBSCRIBER.c.id == subscriber_id,
            _SUBSCRIBER.c.status == SubscriberStatus.CONFIRMED,
            _SUBSCRIBER.c.bounce_count >= current_app.config["BOUNCE_LIMIT"],
        )
        .values(status=SubscriberStatus.SUSPENDED)
    ).rowcount
    if suspended:
        logger.info("subscriber %r suspended after hard bounces", subscriber_id)

"""Everything held about one address, for the right of access and portability (COMPLIANCE 33).

One shape for the preferences page's download and ``flask export-subscriber``: the consent
evidence as SPEC §7 gives it, the subscription's own facts, and every mail queued for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from . import consent
from .extensions import db
from .models import BounceEvent, Delivery, Subscriber


def export(subscriber: Subscriber) -> dict[str, Any]:
    """``{"email", "status", "events", …, "deliveries"}``; events and mails oldest first."""
    return {
        **consent.evidence(subscriber),
        "language": subscriber.locale,
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
        "withdrawn_at": _iso(subscriber.withdrawn_at),
        "source": subscriber.source,
        "hard_bounces": subscriber.bounce_count,
        "deliveries": [_delivery(delivery) for delivery in _deliveries(subscriber)],
        "bounces": [_bounce(event) for event in _bounces(subscriber)],
    }


def _bounces(subscriber: Subscriber) -> list[BounceEvent]:
    return list(
        db.session.execute(
            select(BounceEvent).where(BounceEvent.subscriber_id == subscriber.id).order_by(BounceEvent.id)
        ).scalars()
    )


def _bounce(event: BounceEvent) -> dict[str, Any]:
    """One bounce or complaint: when, what kind, the status code and the remote server's words."""
    return {
        "kind": str(event.kind),
        "at": _iso(event.at),
        "status": event.status,
        "from_report": event.report_id is not None,
        "detail": event.detail,
    }


def _deliveries(subscriber: Subscriber) -> list[Delivery]:
    return list(
        db.session.execute(
            select(Delivery).where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.id)
        ).scalars()
    )


def _delivery(delivery: Delivery) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": str(delivery.kind),
        "status": str(delivery.status),
        "queued_at": _iso(delivery.created_at),
        "sent_at": _iso(delivery.sent_at),
        "attempts": delivery.attempts,
    }
    if delivery.last_reply:
        data["last_reply"] = delivery.last_reply
    if delivery.sent_text:
        data["text"] = delivery.sent_text
    return data


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None

"""Emitting an event: one ``webhook_message`` row per endpoint that wants it, in the caller's
transaction, so the event exists exactly when the change that caused it does. Nothing is sent
here (the worker does, :mod:`.sending`). Flushes, never commits.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, select, update

from .. import clock
from ..extensions import db
from ..models import Webhook, WebhookMessage, WebhookStatus

REQUESTED = "subscriber.requested"
CONFIRMED = "subscriber.confirmed"
WITHDRAWN = "subscriber.withdrawn"
ERASED = "subscriber.erased"
BOUNCED = "subscriber.bounced"
SUSPENDED = "subscriber.suspended"
DIGEST_SENT = "digest.sent"
#: What an endpoint can ask for (SPEC §9).
EVENTS = (REQUESTED, CONFIRMED, WITHDRAWN, ERASED, BOUNCED, SUSPENDED, DIGEST_SENT)
#: What "send a test" sends; no endpoint asks for it, it goes to the one tested.
TEST = "webhook.test"

_WEBHOOK = Webhook.__table__
_MESSAGE = WebhookMessage.__table__


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def subscriber_data(subscriber_id: int, email: str | None, status: str, **more: Any) -> dict[str, Any]:
    """The payload of a ``subscriber.*`` event."""
    return {"id": subscriber_id, "email": email, "status": str(status), **more}


def emit(
    type: str,
    data: dict[str, Any],
    *,
    subscriber_id: int | None = None,
    connection: Connection | None = None,
) -> int:
    """Queue event ``type`` with ``data`` for every enabled endpoint that wants it; how many.

    :param connection: the caller's connection where it works without the ORM session (the
        send path); default the session's."""
    return emit_many(type, [(data, subscriber_id)], connection=connection)


def emit_many(
    type: str, items: list[tuple[dict[str, Any], int | None]], *, connection: Connection | None = None
) -> int:
    """:func:`emit` for many events of one type at once (an import), in one INSERT."""
    connection = connection or db.session.connection()
    wanted = [
        webhook_id
        for webhook_id, events in connection.execute(
            select(_WEBHOOK.c.id, _WEBHOOK.c.events).where(_WEBHOOK.c.disabled_at.is_(None))
        )
        if type in (events or [])
    ]
    if not wanted or not items:
        return 0
    now = clock.now()
    rows = [
        _row(webhook_id, type, data, subscriber_id, now)
        for data, subscriber_id in items
        for webhook_id in wanted
    ]
    connection.execute(_MESSAGE.insert(), rows)
    return len(rows)


def queue_test(webhook: Webhook) -> None:
    """Queue a test event for ``webhook`` alone, whatever events it asked for."""
    db.session.connection().execute(
        _MESSAGE.insert(), [_row(webhook.id, TEST, {"message": "A test event"}, None, clock.now())]
    )


def _row(webhook_id: int, type: str, data: dict[str, Any], subscriber_id: int | None, now) -> dict[str, Any]:
    return {
        "webhook_id": webhook_id, "message_id": new_message_id(), "type": type, "subscriber_id": subscriber_id,
        "data": data, "created_at": now, "status": WebhookStatus.PENDING, "attempts": 0, "next_attempt_at": now,
    }


def forget_subscriber(subscriber_id: int) -> None:
    """Erasure: the events kept about the subscriber keep its id and nothing else."""
    db.session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.subscriber_id == subscriber_id)
        .values(data={"id": subscriber_id, "email": None})
    )

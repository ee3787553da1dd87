from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, str_enum


class Webhook(db.Model):
    """An endpoint of the publisher's that is told about events (SPEC §9)."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    #: The event types it is sent, e.g. ``["subscriber.confirmed"]``.
    events: Mapped[list[str]] = mapped_column(JSON)
    #: ``whsec_…``: the receiver verifies the signatures with it, so it is kept as it is.
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Since when every attempt failed; None after a success.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set when it failed for too long (:data:`newsletter.webhooks.sending.DISABLE_AFTER`).
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  #: every retry failed


class WebhookMessage(db.Model):
    """One event for one endpoint, written in the transaction of the change that caused it and
    POSTed by the worker (:mod:`newsletter.webhooks.sending`)."""

    __tablename__ = "webhook_message"
    __table_args__ = (Index("ix_webhook_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"), index=True)
    #: The ``webhook-id`` header: the same on every retry, so receivers can drop repeats.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    #: The subscriber it is about: erasure scrubs its address from the payloads still kept.
    subscriber_id: Mapped[int | None] = mapped_column(Integer, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[WebhookStatus] = mapped_column(str_enum(WebhookStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The receiver's HTTP status of the last attempt (None: no answer).
    response_code: Mapped[int | None] = mapped_column(Integer)
    #: Why the last attempt failed, in a few words.
    last_error: Mapped[str | None] = mapped_column(String(300))

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .subscriber import Subscriber
from .types import UTCDateTime, str_enum


class MailKind(enum.StrEnum):
    CONFIRM = "confirm"  #: the double-opt-in request
    DIGEST = "digest"  #: a digest to a subscriber
    DIGEST_TEST = "digest-test"  #: a preview of the next digest, to an admin's chosen address
    PREFERENCES_LINK = "preferences-link"  #: a fresh link to the preferences page, on request
    ADMIN_INVITE = "admin-invite"  #: an invitation to the admin area, with a set-password link


class DeliveryStatus(enum.StrEnum):
    """Where one mail to one recipient stands, and why."""

    QUEUED = "queued"
    SENDING = "sending"  #: claimed by a sender until ``lease_expires_at``
    SENT = "sent"
    RETRYING = "retrying"  #: temporary failure; next try at ``next_attempt_at``
    FAILED = "failed"  #: permanent failure; ``last_reply`` says why
    CANCELLED = "cancelled"  #: the recipient withdrew or was erased before sending
    #: not sent: its digest was stopped (``last_reply`` says why) until an admin resumes it
    HELD = "held"


#: States in which a delivery still waits for the sender.
OPEN_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.SENDING)


#: The rows of the claim's two partial indexes, as SQL: the claim says the same in the same
#: words, with literals, or the databases cannot tell that an index covers it.
WAITING_ROWS = "status IN ('queued', 'retrying')"
LEASED_ROWS = "status = 'sending'"


class Delivery(db.Model):
    """One mail to one recipient, queued in the transaction of the change that causes it."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("digest_id", "subscriber_id"),
        # A sender's claim (delivery.queue.claim) reads only what it takes: the waiting rows
        # by when they are due, and the sending rows whose lease ran out by when it did. Neither index
        # holds the rows of a live sender or the sent ones (migration 0015).
        Index(
            "ix_delivery_waiting",
            "next_attempt_at",
            "id",
            postgresql_where=text(WAITING_ROWS),
            sqlite_where=text(WAITING_ROWS),
        ),
        Index(
            "ix_delivery_leased",
            "lease_expires_at",
            postgresql_where=text(LEASED_ROWS),
            sqlite_where=text(LEASED_ROWS),
        ),
        # /healthz and /metrics count mails per status and find the oldest due one from it alone.
        Index("ix_delivery_status_next_attempt", "status", "next_attempt_at"),
        # Room on each page for the row's next version: the hand-over count, which changes no
        # indexed column, is then a HOT update (migration 0014).
        {"postgresql_with": {"fillfactor": 70}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MailKind] = mapped_column(str_enum(MailKind))
    #: NULL only for test sends, which go to ``to_address`` instead.
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscriber.id"), index=True)
    to_address: Mapped[str | None] = mapped_column(String(254))
    #: Looked up through the unique (digest_id, subscriber_id) index, which starts with it.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digest.id"))
    #: What the template needs beyond the subscriber (e.g. the confirm token).
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    #: How often the mail may have reached the relay: counted (and stored) before its final
    #: dot goes out, taken back when the relay refused it or it never got that far. Above 1,
    #: the reader may have it more than once (a sender died with it in flight, or a bug).
    handovers: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The SMTP server's last reply (or the connection error) for a retry or failure.
    last_reply: Mapped[str | None] = mapped_column(String(512))
    message_id: Mapped[str | None] = mapped_column(String(255))
    #: The text part as sent, kept for confirmation mails as consent evidence (COMPLIANCE 13).
    sent_text: Mapped[str | None] = mapped_column(Text)

    subscriber: Mapped[Subscriber | None] = relationship()

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import DDL, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, str_enum


class SubscriberStatus(enum.StrEnum):
    """Why an address is or is not mailed (SPEC §7)."""

    PENDING = "pending"  #: asked, never confirmed
    CONFIRMED = "confirmed"  #: double opt-in done; receives digests
    WITHDRAWN = "withdrawn"  #: consent withdrawn
    SUSPENDED = "suspended"  #: hard bounces reached BOUNCE_LIMIT
    ERASED = "erased"  #: personal data removed


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


class Subscriber(db.Model):
    """An email address and where its consent stands.

    ``status`` is kept in step with the consent events by :mod:`newsletter.consent`, in the
    same transaction; no other module sets it from a consent change.
    """

    __tablename__ = "subscriber"
    __table_args__ = (
        Index("ix_subscriber_status_id", "status", "id"),
        # The admin's search anywhere in the address (pg_trgm, created with the table); on
        # SQLite a plain index, unused by the search's LIKE.
        Index(
            "ix_subscriber_email_trgm",
            "email",
            postgresql_using="gin",
            postgresql_ops={"email": "gin_trgm_ops"},
        ),
        Index("ix_subscriber_source_id", "source", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Normalised (lower-case) address; NULL once erased.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    status: Mapped[SubscriberStatus] = mapped_column(str_enum(SubscriberStatus))
    #: Language of the sign-up page; mails to this address use it.
    locale: Mapped[str] = mapped_column(String(8), default="de")
    #: Part of every confirm token; changing it revokes the outstanding ones.
    confirm_nonce: Mapped[str] = mapped_column(String(24), default=new_nonce)
    #: Part of every preferences token; changing it revokes the outstanding ones.
    access_nonce: Mapped[str] = mapped_column(String(24), default=new_nonce)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounce_count: Mapped[int] = mapped_column(default=0)
    #: Where the address came from when it was not the form, e.g. an import's source column.
    source: Mapped[str | None] = mapped_column(String(64))
    #: Hash of the latest consent event ("" before the first): the end of the hash chain, kept
    #: here so that removing the latest events is detectable too (:mod:`newsletter.evidence`).
    evidence_head: Mapped[str] = mapped_column(String(64), default="", server_default="")

    def __repr__(self) -> str:
        return f"<Subscriber {self.id} {self.status}>"


# The trigram index's operator class comes with the pg_trgm extension (a superuser, or a
# database owner on PostgreSQL 13+ where pg_trgm is trusted, can create it).
event.listen(
    Subscriber.__table__,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)

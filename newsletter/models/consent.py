from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .subscriber import SubscriberStatus
from .types import UTCDateTime, str_enum


class ConsentEventType(enum.StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    ERASED = "erased"
    IMPORTED = "imported"


#: The status each kind of event leaves the subscriber in; ``requested`` changes none.
STATUS_AFTER = {
    ConsentEventType.CONFIRMED: SubscriberStatus.CONFIRMED,
    ConsentEventType.IMPORTED: SubscriberStatus.CONFIRMED,
    ConsentEventType.WITHDRAWN: SubscriberStatus.WITHDRAWN,
    ConsentEventType.ERASED: SubscriberStatus.ERASED,
}


class ConsentChannel(enum.StrEnum):
    FORM = "form"
    LINK = "link"
    ONE_CLICK = "one-click"
    ADMIN = "admin"
    IMPORT = "import"
    RETENTION = "retention"  #: the evidence period ran out (newsletter.retention)
    COMPLAINT = "complaint"  #: the reader reported the mail as spam (an ARF report, newsletter.bounce_reports)
    EMBED = "embed"  #: on the publisher's page: the widget, the iframe, the plain form (SPEC §8)
    API = "api"  #: the public sign-up API (SPEC §8)


class ConsentText(db.Model):
    """One exact wording of the consent statement, as shown to visitors."""

    __tablename__ = "consent_text"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    first_shown_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_shown_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentEvent(db.Model):
    """One fact about an address's consent (SPEC §7), appended by :mod:`newsletter.consent`.

    Rows are never updated or deleted, with one recorded exception: erasure scrubs the
    personal columns (see :mod:`newsletter.consent`).
    """

    __tablename__ = "consent_event"
    # Ids are never reused, not even on SQLite after the newest rows were purged: an evidence
    # head names events by id (newsletter.ledger). Batch migrations that recreate this table on
    # SQLite must pass table_kwargs={"sqlite_autoincrement": True} (reflection loses it).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id"), index=True)
    type: Mapped[ConsentEventType] = mapped_column(str_enum(ConsentEventType))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[ConsentChannel] = mapped_column(str_enum(ConsentChannel))
    consent_text_id: Mapped[int | None] = mapped_column(ForeignKey("consent_text.id"))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    #: Further facts, e.g. the source and original times of an imported consent.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Random salt of ``personal_digest``; removed with the personal columns on erasure.
    personal_salt: Mapped[str | None] = mapped_column(String(32))
    #: Salted hash of (ip, user_agent): how the personal columns enter the hash chain.
    personal_digest: Mapped[str] = mapped_column(String(64))
    #: Hash of the previous event of the same subscriber ("" for the first): a chain that
    #: makes a changed or removed row detectable.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    consent_text: Mapped[ConsentText | None] = relationship(lazy="joined")

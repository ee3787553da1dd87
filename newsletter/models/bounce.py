"""Reports that came back after the relay said 250 (bounces, complaints), and what each did."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, str_enum


class ReportKind(enum.StrEnum):
    """What a report says (:mod:`newsletter.report_reading`)."""

    HARD = "hard"  #: the address failed for good (5.1.x): a hard bounce
    SOFT = "soft"  #: a temporary failure (4.x.x, or delayed): a soft bounce
    MESSAGE = "message"  #: refused for good, but the message or a policy, not the address: counts nothing
    COMPLAINT = "complaint"  #: the reader marked the mail as spam (ARF)
    AUTO_REPLY = "auto-reply"  #: out of office and the like: kept, changes nothing
    UNKNOWN = "unknown"  #: nothing could be read from it: kept for the admin, changes nothing


class BounceReport(db.Model):
    """One report as received by the bounce listener, stored before it was answered with 250
    and processed in a step of its own (``processed_at`` NULL until then)."""

    __tablename__ = "bounce_report"
    __table_args__ = (
        Index(
            "ix_bounce_report_waiting",
            "id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The envelope sender ("" for the null sender of a DSN) and recipients, as received.
    mail_from: Mapped[str] = mapped_column(String(512))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    #: The report exactly as received; emptied when the subscriber it names is erased.
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[ReportKind | None] = mapped_column(str_enum(ReportKind))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscriber.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id"))
    #: What processing found or why it changed nothing, for the admin.
    note: Mapped[str | None] = mapped_column(String(512))


class BounceKind(enum.StrEnum):
    """What a failure after (or at) the hand-over did to a subscriber."""

    HARD = "hard"
    SOFT = "soft"
    MESSAGE = "message"
    COMPLAINT = "complaint"


class BounceEvent(db.Model):
    """One bounce or complaint charged to a subscriber: at send time (a 5xx refusing the address)
    or from a report. The subscriber's history, the export and the digest counts show them."""

    __tablename__ = "bounce_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digest.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("bounce_report.id"))
    kind: Mapped[BounceKind] = mapped_column(str_enum(BounceKind))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The enhanced status code ("5.1.1"), or the basic reply code where there was none.
    status: Mapped[str | None] = mapped_column(String(16))
    #: The relay's or report's diagnostic, printable; emptied on erasure.
    detail: Mapped[str | None] = mapped_column(String(512))

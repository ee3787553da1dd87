from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, str_enum


class DigestTrigger(enum.StrEnum):
    SCHEDULE = "schedule"  #: DIGEST_SCHEDULE in the worker
    COMMAND = "command"  #: flask send-digest
    ADMIN = "admin"  #: "Send now" in the admin area


class Digest(db.Model):
    """One issue of the newsletter: the articles it carries and one delivery per recipient."""

    __tablename__ = "digest"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[DigestTrigger] = mapped_column(str_enum(DigestTrigger))
    #: Subject line as rendered for the digest's date (the same for every recipient).
    subject: Mapped[str] = mapped_column(String(255))
    #: The subject the admin gave (every language gets it); None: each language's default.
    custom_subject: Mapped[str | None] = mapped_column(String(255))
    #: A paragraph of the admin's above the articles (plain text); None: none.
    intro: Mapped[str | None] = mapped_column(Text)
    #: How many deliveries were queued when the digest was built.
    recipient_count: Mapped[int] = mapped_column(default=0)

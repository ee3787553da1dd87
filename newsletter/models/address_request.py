from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .consent import ConsentChannel, ConsentText
from .types import UTCDateTime, str_enum


class AddressRequestKind(enum.StrEnum):
    SIGN_UP = "sign-up"
    PREFERENCES_LINK = "preferences-link"


class AddressRequest(db.Model):
    """What a visitor asked for an address, waiting for the worker (:mod:`newsletter.address_requests`).

    Holds what the evidence will record (the wording shown, client IP, user agent, the time
    of the request); deleted once carried out.
    """

    __tablename__ = "address_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AddressRequestKind] = mapped_column(str_enum(AddressRequestKind))
    email: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[ConsentChannel | None] = mapped_column(str_enum(ConsentChannel))
    consent_text_id: Mapped[int | None] = mapped_column(ForeignKey("consent_text.id"))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    #: The publisher's page the reader signed up on (SPEC §8), when on an allowed origin.
    source_url: Mapped[str | None] = mapped_column(String(2048))

    consent_text: Mapped[ConsentText | None] = relationship()

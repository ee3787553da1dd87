from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class Suppression(db.Model):
    """An address that must not be mailed, known only by its keyed hash (HMAC)."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Why: "erased" (the subscriber asked), "retention" (evidence period over).
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

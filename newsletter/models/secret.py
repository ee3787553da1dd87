from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class InstanceSecret(db.Model):
    """A secret of this installation, generated once and kept with the data it protects
    (:mod:`newsletter.instance_secrets`); never changed once stored."""

    __tablename__ = "instance_secret"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Hex, as :func:`secrets.token_hex` gives it.
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

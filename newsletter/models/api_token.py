from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, str_enum


class ApiScope(enum.StrEnum):
    READ = "read"  #: GET only
    WRITE = "write"  #: every method


class ApiToken(db.Model):
    """A bearer token of the admin API (SPEC §9), kept as the SHA-256 of the token only
    (:mod:`newsletter.apitokens`)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[ApiScope] = mapped_column(str_enum(ApiScope))
    #: Hex SHA-256 of the whole token; the unique index finds a token by it.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Written at most once a minute (:func:`newsletter.apitokens.touch`).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

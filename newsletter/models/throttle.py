from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class DoiSend(db.Model):
    """A mail queued for an address on a stranger's request, known only by its keyed hash.

    Counts towards a per-address cap (:mod:`newsletter.addresscap`): confirmation mails
    towards DOI_MAX_PER_ADDRESS, preferences links towards PREFERENCES_LINK_MAX_PER_ADDRESS,
    each kind under a hash of its own. Outlives the purge of unconfirmed sign-ups, so an
    attacker cannot reset the cap by waiting for the purge; it holds no address.
    """

    __tablename__ = "doi_send"
    __table_args__ = (Index("ix_doi_send_address_hash_sent_at", "address_hash", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AdminLoginAttempt(db.Model):
    """A sign-in to the admin area whose password is being checked or was wrong.

    Counted by :mod:`newsletter.loginthrottle` per client and per (address, client). Client
    and address are kept only as keyed hashes, since whatever was typed into the address
    field may be anybody's; rows go once their window has passed (:mod:`newsletter.retention`).
    """

    __tablename__ = "admin_login_attempt"
    __table_args__ = (
        Index("ix_admin_login_attempt_client_hash_at", "client_hash", "at"),
        Index("ix_admin_login_attempt_address_hash_at", "address_hash", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_hash: Mapped[str] = mapped_column(String(64))
    address_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: False while the password is being checked; True once it turned out wrong.
    failed: Mapped[bool] = mapped_column(Boolean, default=False)

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
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

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .consent import ConsentEventType
from .types import str_enum


class EvidenceLedgerLine(db.Model):
    """One consent event as an evidence head saw it (:mod:`newsletter.ledger`).

    Written once, by ``flask evidence-head``, for every event it covers first; never changed,
    and kept when the event itself is purged: no foreign keys, and nothing personal (ids, the
    type, the chain hash). A kept head vouches for these lines, so they say which events
    changed since.
    """

    __tablename__ = "evidence_ledger"

    event_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    subscriber_id: Mapped[int]
    type: Mapped[ConsentEventType] = mapped_column(str_enum(ConsentEventType))
    hash: Mapped[str] = mapped_column(String(64))

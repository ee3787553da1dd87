"""Retention (SPEC §5 ``purge``): personal data is kept only as long as it serves its purpose.

Three rules, applied by ``flask purge`` and daily by the worker:

- A sign-up never confirmed (pending, no confirmation, no import) whose latest request is
  older than UNCONFIRMED_RETENTION_DAYS is deleted whole, with its events and mails
  (COMPLIANCE item 16): it proves no consent, so nothing of it is needed. Evidence heads
  taken before still verify: their ledger lines (no personal data) stay (:mod:`.ledger`).
- The evidence of withdrawn consent is erased EVIDENCE_RETENTION_DAYS after the withdrawal
  (COMPLIANCE item 36, note D4), as an erasure on the channel ``retention``: the address
  stays suppressed by its keyed hash, so it is not mailed again unless it signs up anew.
- Bounce reports are kept as received for 90 days after processing (they quote addresses and
  mails), then emptied; a never-confirmed sign-up's bounce events and reports go with it.
- The per-address mail caps' records (keyed hashes only) go after their 24 hours, the admin
  login throttle's after its windows, admin sessions once they have run out, the audit log's
  records after EVIDENCE_RETENTION_DAYS (as long as the evidence they may explain).

Unlike other services, :func:`purge` commits after each batch, as the importer does: a purge
of many rows never holds one long transaction (on SQLite, the write lock). What it removed is
reported and logged in counts, never with an address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, exists, select

from . import addresscap, adminsessions, audit, bounce_reports, clock, consent, loginthrottle, subscribers
from .extensions import db
from .models import (
    ConsentChannel,
    ConsentEvent,
    ConsentEventType,
    Delivery,
    DoiSend,
    Subscriber,
    SubscriberStatus,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass
class PurgeReport:
    """What one purge removed, in counts."""

    unconfirmed: int = 0
    unconfirmed_events: int = 0
    unconfirmed_deliveries: int = 0
    withdrawn_erased: int = 0
    cap_records: int = 0
    login_records: int = 0
    bounce_reports_emptied: int = 0
    audit_records: int = 0

    def __str__(self) -> str:
        return (
            f"deleted {self.unconfirmed} never-confirmed sign-ups ({self.unconfirmed_events} consent events,"
            f" {self.unconfirmed_deliveries} mails); erased {self.withdrawn_erased} withdrawn subscribers"
            f" after the evidence period; deleted {self.cap_records} expired mail-cap records,"
            f" {self.login_records} expired admin sign-in records, {self.audit_records} audit log records"
            f" past the evidence period; emptied {self.bounce_reports_emptied} bounce reports"
        )


def purge(batch_size: int = BATCH_SIZE) -> PurgeReport:
    """Apply every retention rule as of now; commits after each batch."""
    now = clock.now()
    report = PurgeReport()
    _purge_unconfirmed(now, report, batch_size)
    _erase_withdrawn(now, report, batch_size)
    report.cap_records = db.session.execute(
        delete(DoiSend).where(DoiSend.sent_at <= now - addresscap.WINDOW)
    ).rowcount
    report.login_records = loginthrottle.forget_old(now) + adminsessions.forget_ended(now)
    report.bounce_reports_emptied = bounce_reports.forget_old_raw(now)
    report.audit_records = audit.forget_old(now, current_app.config["EVIDENCE_RETENTION_DAYS"])
    db.session.commit()
    logger.info("purge: %s", report)
    return report


def _purge_unconfirmed(now: datetime, report: PurgeReport, batch_size: int) -> None:
    cutoff = now - timedelta(days=current_app.config["UNCONFIRMED_RETENTION_DAYS"])
    # Measured from the latest request, not from the first: a fresh confirmation link
    # (CONFIRM_MAX_AGE_DAYS) must not stop working because the address first asked long ago.
    recent_or_imported = exists().where(
        ConsentEvent.subscriber_id == Subscriber.id,
        (ConsentEvent.at >= cutoff) | (ConsentEvent.type == ConsentEventType.IMPORTED),
    )
    after = 0
    while True:
        ids = list(
            db.session.execute(
                select(Subscriber.id)
                .where(
                    Subscriber.id > after,
                    Subscriber.status == SubscriberStatus.PENDING,
                    Subscriber.confirmed_at.is_(None),
                    Subscriber.created_at < cutoff,
                    ~recent_or_imported,
                )
                .order_by(Subscriber.id)
                .limit(batch_size)
                # A confirmation arriving now waits for this batch (and then finds no row).
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not ids:
            return
        bounce_reports.forget_subscribers(ids)  # a bounced confirmation mail's events and reports
        report.unconfirmed_deliveries += db.session.execute(
            delete(Delivery).where(Delivery.subscriber_id.in_(ids)).execution_options(synchronize_session=False)
        ).rowcount
        report.unconfirmed_events += consent.delete_unconfirmed(ids)
        report.unconfirmed += db.session.execute(
            delete(Subscriber).where(Subscriber.id.in_(ids)).execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        after = ids[-1]


def _erase_withdrawn(now: datetime, report: PurgeReport, batch_size: int) -> None:
    cutoff = now - timedelta(days=current_app.config["EVIDENCE_RETENTION_DAYS"])
    after = 0
    while True:
        batch = list(
            db.session.execute(
                select(Subscriber)
                .where(
                    Subscriber.id > after,
                    Subscriber.status == SubscriberStatus.WITHDRAWN,
                    Subscriber.withdrawn_at < cutoff,
                )
                .order_by(Subscriber.id)
                .limit(batch_size)
            ).scalars()
        )
        if not batch:
            return
        for subscriber in batch:
            if subscribers.erase(subscriber, ConsentChannel.RETENTION):
                report.withdrawn_erased += 1
        db.session.commit()
        after = batch[-1].id

"""Changing the consent evidence behind the application's back, as someone with write access
to the database could, for the tests that must catch it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select, text

from newsletter import evidence
from newsletter.extensions import db
from newsletter.models import ConsentEvent


def event_ids(app: Flask, subscriber_id: int) -> list[int]:
    with app.app_context():
        return list(db.session.execute(
            select(ConsentEvent.id).where(ConsentEvent.subscriber_id == subscriber_id).order_by(ConsentEvent.id)
        ).scalars())


def raw_sql(app: Flask, statement: str, **params) -> None:
    """Run ``statement`` and commit, bypassing every rule of the services."""
    with app.app_context():
        db.session.execute(text(statement), params)
        db.session.commit()


def rewrite_history(app: Flask, subscriber_id: int, event_id: int, channel: str) -> None:
    """What the chain alone cannot show: change an event's channel, then recompute the hashes
    of it and of every later event of that subscriber, and the subscriber's recorded head."""
    with app.app_context():
        events = db.session.execute(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber_id).order_by(ConsentEvent.id)
        ).scalars().all()
        rewritten, previous = [], ""
        for event in events:
            new_channel = channel if event.id == event_id else str(event.channel)
            digest = evidence.chain_hash(
                subscriber_id=event.subscriber_id, type=event.type, at=event.at, channel=new_channel,
                consent_text_sha256=event.consent_text.sha256 if event.consent_text else None,
                personal_digest=event.personal_digest, detail=event.detail, prev_hash=previous,
            )
            rewritten.append({"id": event.id, "channel": new_channel, "prev": previous, "hash": digest})
            previous = digest
        db.session.rollback()
    for row in rewritten:
        raw_sql(app, "UPDATE consent_event SET channel = :channel, prev_hash = :prev, hash = :hash WHERE id = :id",
                **row)
    raw_sql(app, "UPDATE subscriber SET evidence_head = :head WHERE id = :id", head=previous, id=subscriber_id)

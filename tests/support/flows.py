"""Whole journeys through the service, for tests that need a state with its history.

Mail goes through the app's sender (:func:`drain`) to whatever transport the test set up:
the in-memory outbox or the loopback SMTP server. Pass the list the messages land in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from newsletter import address_requests, consent, digest, subscribers, tokens
from newsletter.clock import FrozenClock
from newsletter.delivery import outcomes, sender
from newsletter.extensions import db
from newsletter.models import ConsentEvent, ConsentEventType, Delivery, DigestTrigger, Subscriber, SubscriberStatus
from tests.support.factories import add_article
from tests.support.visitor import Visitor, confirm_link


def drain(app: Flask) -> outcomes.SendReport:
    """What the worker's send-mail job does: carry out the visitors' requests, then send
    everything that is due now."""
    with app.app_context():
        address_requests.carry_out()
        return sender.drain()


def send_once_the_leases_ran_out(app: Flask, clock: FrozenClock) -> outcomes.SendReport:
    """A new sender in this process, once every lease (and pause) an earlier sender took has
    run out: the test's clock moves just past the latest of them."""
    with app.app_context():
        times = db.session.execute(
            select(func.max(Delivery.lease_expires_at), func.max(Delivery.next_attempt_at))
        ).one()
        db.session.commit()
    clock.set(max(moment for moment in times if moment is not None) + timedelta(seconds=1))
    return drain(app)


def sign_up(app: Flask, visitor: Visitor, messages: list, email: str) -> str:
    """Sign ``email`` up through the form and send the mail; the confirmation link in it."""
    visitor.sign_up(email)
    drain(app)
    return confirm_link([message for message in messages if email in str(message["To"])][-1])


def sign_up_and_confirm(app: Flask, visitor: Visitor, messages: list, email: str) -> int:
    """Sign ``email`` up through the form and confirm it with the link from its mail; its id."""
    response = visitor.confirm(sign_up(app, visitor, messages, email))
    assert response.status_code == 200, response.get_data(as_text=True)
    return subscriber_id(app, email)


def subscriber_id(app: Flask, email: str) -> int:
    with app.app_context():
        found: Subscriber | None = subscribers.find_by_email(email)
        assert found is not None, email
        return found.id


def status_of(app: Flask, subscriber_id: int) -> SubscriberStatus:
    with app.app_context():
        return db.session.get(Subscriber, subscriber_id).status


def withdrawals(app: Flask, subscriber_id: int) -> list[str]:
    """The channels of the subscriber's `withdrawn` events."""
    with app.app_context():
        return [
            str(event.channel)
            for event in db.session.execute(
                select(ConsentEvent).where(
                    ConsentEvent.subscriber_id == subscriber_id,
                    ConsentEvent.type == ConsentEventType.WITHDRAWN,
                )
            ).scalars()
        ]


def preferences_path(app: Flask, subscriber_id: int) -> str:
    with app.app_context():
        return f"/preferences/{tokens.make_preferences_token(db.session.get(Subscriber, subscriber_id))}"


def add_readers(count: int, start: int = 0) -> list[str]:
    """``count`` confirmed subscribers, imported in bulk; their addresses. Call inside an app context."""
    when = datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
    emails = [f"reader{i}@example.org" for i in range(start, start + count)]
    consent.import_confirmed([
        consent.ImportedConsent(email=email, locale="de", source="test", ip=None, consented_at=when, confirmed_at=when)
        for email in emails
    ])
    return emails


def queue_digest(app: Flask, readers: int = 0) -> list[str]:
    """``readers`` more confirmed subscribers, an article, and the digest of it queued for every
    confirmed subscriber (as ``send-digest`` does before sending); the new readers' addresses."""
    with app.app_context():
        emails = add_readers(readers)
        add_article("Neuigkeiten")
        digest.build_digest(DigestTrigger.COMMAND)
        db.session.commit()
    return emails

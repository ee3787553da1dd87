"""The outbox: mails wait in the database and reach a real SMTP server on loopback exactly once."""

from __future__ import annotations

import asyncio
import concurrent.futures
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.delivery import outcomes, queue, sender
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus
from tests.support.visitor import Visitor


@pytest.fixture
def smtp_app(smtp_config, app):
    return app


def deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = db.session.execute(select(Delivery).order_by(Delivery.id)).scalars().all()
        db.session.expunge_all()
        return rows


def drain(app):
    with app.app_context():
        return sender.drain()


def test_doi_mail_is_multipart_neutral_and_has_absolute_links(smtp_app, visitor, smtp_server):
    visitor.sign_up("ann@example.org")
    assert smtp_server.messages == []  # nothing on the request's path
    report = drain(smtp_app)
    assert report.sent == 1
    (message,) = smtp_server.messages
    for header in ("From", "To", "Date", "Message-ID", "Subject"):
        assert message[header], header
    assert message["From"] == "Beispiel Verlag <news@example.org>"
    assert message["To"] == "ann@example.org"
    assert message["Message-ID"].endswith("@example.org>")
    assert message["Subject"] == "Bitte bestätigen Sie Ihre Anmeldung bei Beispiel Verlag"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert message.get_body(("plain",)).get_content_charset() == "utf-8"
    for body in (text, html):
        assert "https://news.example.org/confirm/" in body
        assert "7 Tage gültig" in body
        assert "ignorieren Sie diese E-Mail" in body
        assert "Beispiel Verlag" in body
        # neutral: no advertising in the confirmation request (COMPLIANCE item 10)
        for advertising in ("Angebot", "Willkommen", "Rabatt", "<img"):
            assert advertising not in body
    assert 'style="' in html  # CSS inlined for mail clients
    assert 'href="https://news.example.org/confirm/' in html


def test_an_address_at_a_domain_beyond_ascii_gets_its_mail(smtp_app, visitor, smtp_server):
    assert visitor.sign_up("Anna@Bücher.de").status_code == 200
    assert drain(smtp_app).sent == 1
    (message,) = smtp_server.messages
    assert smtp_server.handler.envelopes[0][1] == ["anna@xn--bcher-kva.de"]
    assert message["To"] == "anna@xn--bcher-kva.de"


def test_mail_goes_out_when_the_caller_runs_an_event_loop_already(smtp_app, visitor, smtp_server):
    """Sending blocks the caller's loop like any other blocking call (Playwright's sync API runs one)."""
    visitor.sign_up("ann@example.org")

    async def caller():
        return drain(smtp_app)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a thread of its own: pytest may run a loop here
        report = pool.submit(asyncio.run, caller()).result()
    assert report.sent == 1
    assert [message["To"] for message in smtp_server.messages] == ["ann@example.org"]


def test_doi_mail_follows_the_visitors_language(smtp_app, client, smtp_server):
    Visitor(client, "en").sign_up("ann@example.org")
    drain(smtp_app)
    (message,) = smtp_server.messages
    assert message["Subject"] == "Please confirm your subscription to Beispiel Verlag"
    assert "valid for 7 days" in message.get_body(("plain",)).get_content()


def test_relay_down_means_later_delivery_not_a_failed_sign_up(smtp_app, visitor, smtp_server, clock):
    smtp_server.stop()
    assert visitor.sign_up("ann@example.org").status_code == 200
    report = drain(smtp_app)
    assert (report.sent, report.retrying) == (0, 1)
    (row,) = deliveries(smtp_app)
    assert row.status is DeliveryStatus.RETRYING and row.attempts == 0
    assert "connection" in row.last_reply
    smtp_server.start()
    assert drain(smtp_app).attempted == 0  # not due yet
    clock.advance(seconds=61)
    assert drain(smtp_app).sent == 1
    assert drain(smtp_app).attempted == 0
    assert len(smtp_server.messages) == 1
    assert deliveries(smtp_app)[0].status is DeliveryStatus.SENT


def test_4xx_replies_are_retried_with_backoff(smtp_app, visitor, smtp_server, clock):
    smtp_server.handler.rcpt_replies["ann@example.org"] = "451 4.7.1 greylisted, try later"
    visitor.sign_up("ann@example.org")
    drain(smtp_app)
    (row,) = deliveries(smtp_app)
    assert row.status is DeliveryStatus.RETRYING and row.attempts == 1
    assert row.last_reply.startswith("451")
    assert row.next_attempt_at == clock.now() + __import__("datetime").timedelta(seconds=60)
    clock.advance(seconds=60)
    drain(smtp_app)
    (row,) = deliveries(smtp_app)
    assert row.attempts == 2
    assert (row.next_attempt_at - clock.now()).total_seconds() == outcomes.BACKOFF_SECONDS[1]
    del smtp_server.handler.rcpt_replies["ann@example.org"]
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[1])
    assert drain(smtp_app).sent == 1
    assert len(smtp_server.messages) == 1
    assert deliveries(smtp_app)[0].status is DeliveryStatus.SENT


def test_5xx_replies_mark_the_delivery_failed(smtp_app, visitor, smtp_server, clock):
    smtp_server.handler.rcpt_replies["ann@example.org"] = "550 5.1.1 no such user"
    visitor.sign_up("ann@example.org")
    assert drain(smtp_app).failed == 1
    (row,) = deliveries(smtp_app)
    assert row.status is DeliveryStatus.FAILED and row.last_reply == "550 5.1.1 no such user"
    clock.advance(days=2)
    assert drain(smtp_app).attempted == 0


def test_temporary_failures_give_up_after_the_last_backoff(smtp_app, visitor, smtp_server, clock):
    smtp_server.handler.data_reply = "452 4.3.1 insufficient storage"
    visitor.sign_up("ann@example.org")
    for delay in (0, *outcomes.BACKOFF_SECONDS):
        clock.advance(seconds=delay)
        drain(smtp_app)
    (row,) = deliveries(smtp_app)
    assert row.status is DeliveryStatus.FAILED
    assert row.attempts == len(outcomes.BACKOFF_SECONDS) + 1


def test_one_bad_recipient_does_not_hold_up_the_others(smtp_app, client, smtp_server):
    smtp_server.handler.rcpt_replies["bad@example.org"] = "550 5.1.1 no such user"
    for email in ("a@example.org", "bad@example.org", "b@example.org"):
        Visitor(client).sign_up(email)
    report = drain(smtp_app)
    assert (report.sent, report.failed) == (2, 1)
    assert sorted(str(m["To"]) for m in smtp_server.messages) == ["a@example.org", "b@example.org"]


def test_a_crashed_senders_mails_go_out_once_its_lease_expires(smtp_app, visitor, smtp_server, clock):
    visitor.sign_up("ann@example.org")
    with smtp_app.app_context():
        assert len(queue.claim()) == 1  # a sender claims the mail and dies
    assert drain(smtp_app).attempted == 0
    clock.advance(seconds=smtp_app.config["SEND_LEASE_SECONDS"] + 1)
    assert drain(smtp_app).sent == 1
    assert len(smtp_server.messages) == 1


def test_a_newer_confirmation_mail_cancels_the_older_unsent_one(smtp_app, visitor, smtp_server):
    visitor.sign_up("ann@example.org")
    visitor.sign_up("ann@example.org")
    report = drain(smtp_app)
    assert (report.sent, report.cancelled) == (1, 1)
    assert [row.status for row in deliveries(smtp_app)] == [DeliveryStatus.CANCELLED, DeliveryStatus.SENT]


def test_file_backend_writes_one_eml_per_message(config, app, visitor):
    app.config["MAIL_BACKEND"] = "file"
    visitor.sign_up("ann@example.org")
    drain(app)
    files = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(files) == 1
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"] == "ann@example.org"
    assert "/confirm/" in message.get_body(("plain",)).get_content()

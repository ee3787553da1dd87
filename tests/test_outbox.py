"""The outbox: a mail waits in the database and reaches a real SMTP server on loopback as it should
(the confirmation mail's form, address and language; the transports). What each relay answer
does to a mail: tests/test_sending.py."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus
from tests.support.flows import drain
from tests.support.loops import run_to_end
from tests.support.visitor import Visitor


def deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = db.session.execute(select(Delivery).order_by(Delivery.id)).scalars().all()
        db.session.expunge_all()
        return rows


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

    report = run_to_end(caller)
    assert report.sent == 1
    assert [message["To"] for message in smtp_server.messages] == ["ann@example.org"]


def test_doi_mail_follows_the_visitors_language(smtp_app, client, smtp_server):
    Visitor(client, "en").sign_up("ann@example.org")
    drain(smtp_app)
    (message,) = smtp_server.messages
    assert message["Subject"] == "Please confirm your subscription to Beispiel Verlag"
    assert "valid for 7 days" in message.get_body(("plain",)).get_content()


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

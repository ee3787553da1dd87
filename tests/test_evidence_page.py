"""The printable evidence of one consent (COMPLIANCE items 13–14, 38): everything a court would
ask for on one standalone A4 page, rendered by ``render_evidence_page``."""

from __future__ import annotations

import html as html_module
import re

import pytest
from sqlalchemy import select, text

from newsletter import subscribers
from newsletter.evidence_report import render_evidence_page
from newsletter.extensions import db
from newsletter.models import ConsentEvent, Subscriber
from tests.support.flows import sign_up, sign_up_and_confirm, subscriber_id
from tests.support.visitor import Visitor

IP = "203.0.113.77"
BROWSER = "Anns Browser/7.1 (Testbed)"


def page_of(app, subscriber_id: int, language: str = "en") -> str:
    with app.test_request_context(headers={"Accept-Language": language}):
        return html_module.unescape(render_evidence_page(db.session.get(Subscriber, subscriber_id)))


def ann_signs_up(app, messages, clock) -> int:
    """Ann signs up from a distinctive IP address and browser, and confirms 30 minutes later."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = IP
    visitor = Visitor(client)
    visitor.headers["User-Agent"] = BROWSER
    link = sign_up(app, visitor, messages, "ann@example.org")
    clock.advance(minutes=30)
    visitor.confirm(link)
    return subscriber_id(app, "ann@example.org")


def test_the_page_holds_every_event_the_wording_and_the_mail_as_sent(smtp_config, app, smtp_server, clock):
    ann = ann_signs_up(app, smtp_server.messages, clock)
    page = page_of(app, ann)
    assert page.startswith("<!doctype html>") and "style.css" not in page  # standalone
    assert "@page { size: A4;" in page and "@media print" in page
    assert f"Subscriber {ann}" in page and "ann@example.org" in page
    # Each event with its time in UTC and in TIMEZONE, the channel, IP address and user agent.
    assert "1. requested — 2026-03-02 08:00:00 UTC (2026-03-02 09:00:00 CET)" in page
    assert "2. confirmed — 2026-03-02 08:30:00 UTC (2026-03-02 09:30:00 CET)" in page
    assert "sign-up form" in page and "link in the mail" in page
    assert page.count(IP) == 2 and page.count(BROWSER) == 2
    # The wording agreed to, with its SHA-256.
    with app.app_context():
        event = db.session.execute(select(ConsentEvent).order_by(ConsentEvent.id)).scalars().first()
        wording, sha256 = event.consent_text.text, event.consent_text.sha256
    assert wording in page and sha256 in page
    # The confirmation mail exactly as it went out.
    (doi,) = smtp_server.messages[:1]
    sent = doi.get_body(("plain",)).get_content()
    confirm_url = re.search(r"https://\S+/confirm/\S+", sent).group(0)
    assert confirm_url in page and doi["Message-ID"] in page
    assert "The hash chain is intact: all 2 events are as they were recorded." in page
    assert "Under the current setting, IP addresses are recorded in full." in page


def test_the_page_shows_a_broken_chain(app, visitor, outbox):
    ann = sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    with app.app_context():
        db.session.execute(
            text("UPDATE consent_event SET channel = 'admin' WHERE subscriber_id = :id"), {"id": ann}
        )
        db.session.commit()
    page = page_of(app, ann)
    assert "The hash chain shows changes" in page
    assert re.search(rf"subscriber {ann}, event \d+: content changed", page)


@pytest.mark.parametrize(
    ("mode", "shown", "note"),
    [
        ("truncated", "203.0.113.0", "recorded shortened to their network"),
        ("none", "not recorded", "IP addresses are not recorded"),
    ],
)
def test_the_page_reflects_evidence_ip(app, client, clock, outbox, mode, shown, note):
    app.config["EVIDENCE_IP"] = mode
    client.environ_base["REMOTE_ADDR"] = IP
    ann = sign_up_and_confirm(app, Visitor(client), outbox, "ann@example.org")
    page = page_of(app, ann)
    assert IP not in page
    assert page.count(shown) >= 2 and note in page


def test_an_erased_subscriber_shows_the_erasure_and_nothing_personal(smtp_config, app, smtp_server, clock):
    ann = ann_signs_up(app, smtp_server.messages, clock)
    with app.app_context():
        subscribers.erase(db.session.get(Subscriber, ann), "link")
        db.session.commit()
    page = page_of(app, ann)
    assert "ann@example.org" not in page and IP not in page and BROWSER not in page
    assert "(erased)" in page and "3. erased" in page
    assert page.count("removed on erasure") == 4  # IP address and user agent of two events
    assert "The text of this mail was not kept." in page
    assert "The hash chain is intact: all 3 events" in page


def test_the_page_follows_the_readers_language(app, visitor, outbox):
    ann = sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    page = page_of(app, ann, "de")
    assert '<html lang="de">' in page
    assert "2026-03-02 09:00:00 CET" in page

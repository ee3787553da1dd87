"""The preferences page: status and consent, download, erasure behind a confirmation step,
and fresh links by mail that reveal nothing (SPEC §3, COMPLIANCE items 33–34, 39–41, 45–48)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from newsletter import subscribers, tokens
from newsletter.extensions import db
from newsletter.models import Delivery, MailKind, Subscriber, SubscriberStatus
from newsletter.models.subscriber import new_nonce
from tests.support.factories import add_subscriber
from tests.support.flows import (
    drain,
    preferences_path,
    queue_digest,
    sign_up,
    sign_up_and_confirm,
    status_of,
    withdrawals,
)
from tests.support.limits import limit
from tests.support.visitor import Visitor, carry_out_requests, hidden_fields, link_in


@pytest.fixture
def ann(app, visitor, outbox) -> int:
    """Ann, signed up and confirmed through the pages; her id."""
    return sign_up_and_confirm(app, visitor, outbox, "ann@example.org")


def test_the_confirmation_page_links_to_the_preferences(app, visitor, outbox):
    page = visitor.confirm(sign_up(app, visitor, outbox, "ann@example.org")).get_data(as_text=True)
    path = re.search(r'href="(/preferences/[^"]+)"', page).group(1)
    assert visitor.client.get(path).status_code == 200


def test_page_shows_status_consent_wording_and_what_can_be_done(app, client, ann, clock):
    path = preferences_path(app, ann)
    page = client.get(path)
    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    html = page.get_data(as_text=True)
    assert "ann@example.org" in html
    assert "2. März 2026" in html  # subscribed since, and consent given on
    assert "09:00:00 MEZ" in html  # the moment of consent, in TIMEZONE
    assert "willige ich ein, dass Beispiel Verlag mir Produktneuigkeiten" in html  # the wording agreed to
    assert f'href="{path}/data.json"' in html
    assert f'href="{path}/erase"' in html
    assert html.count("<form") == 1  # unsubscribing; erasure asks first on a page of its own
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    assert action.startswith("/unsubscribe/")
    assert status_of(app, ann) is SubscriberStatus.CONFIRMED  # looking changes nothing

    assert client.post(action, data=hidden_fields(html)).status_code == 200
    assert status_of(app, ann) is SubscriberStatus.WITHDRAWN
    assert withdrawals(app, ann) == ["link"]
    after = client.get(path)
    assert after.status_code == 200 and "<form" not in after.get_data(as_text=True)
    assert 'href="/subscribe"' in after.get_data(as_text=True)


def test_pending_sign_ups_see_the_request_and_no_unsubscribe_button(app, client):
    english = Visitor(client, "en")
    english.sign_up("ann@example.org")
    with app.app_context():
        subscriber_id = db.session.execute(select(Subscriber.id)).scalar_one()
    html = client.get(preferences_path(app, subscriber_id), headers=english.headers).get_data(as_text=True)
    assert "Not confirmed yet" in html
    assert "Asked for on" in html and "may send me product news" in html  # the wording shown
    assert "<form" not in html and "/erase" in html


def test_download_holds_everything_as_an_attachment_never_cached(app, client, ann, clock):
    queue_digest(app)
    drain(app)
    response = client.get(preferences_path(app, ann) + "/data.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response.headers["Cache-Control"]
    data = json.loads(response.get_data(as_text=True))
    assert data["email"] == "ann@example.org" and data["status"] == "confirmed"
    assert [event["type"] for event in data["events"]] == ["requested", "confirmed"]
    requested = data["events"][0]
    assert requested["at"] == clock.now().isoformat() and requested["channel"] == "form"
    assert requested["ip"] == "127.0.0.1" and requested["user_agent"] == "Mozilla/5.0 (pytest)"
    assert "Produktneuigkeiten" in requested["consent_text"]["text"]
    assert [(d["kind"], d["status"]) for d in data["deliveries"]] == [("confirm", "sent"), ("digest", "sent")]
    assert all(d["queued_at"] and d["sent_at"] for d in data["deliveries"])
    assert "/confirm/" in data["deliveries"][0]["text"]  # the confirmation mail as sent
    assert data["confirmed_at"] == clock.now().isoformat() and data["language"] == "de"


def test_erasure_asks_first_and_needs_the_csrf_token(app, client, ann):
    page_path = preferences_path(app, ann)
    erase_path = page_path + "/erase"
    page = client.get(erase_path)
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    html = page.get_data(as_text=True)
    assert html.count("<form") == 1 and 'method="post"' in html
    assert client.post(erase_path).status_code == 400
    assert client.post(erase_path, data={"csrf_token": "forged"}).status_code == 400
    assert status_of(app, ann) is SubscriberStatus.CONFIRMED

    done = client.post(erase_path, data=hidden_fields(html), headers={"Accept-Language": "en"})
    assert done.status_code == 200 and "Your data has been erased" in done.get_data(as_text=True)
    assert status_of(app, ann) is SubscriberStatus.ERASED
    assert client.get(page_path).status_code == 410  # the page's link is revoked too
    assert client.post(erase_path, data=hidden_fields(html)).status_code == 410


@pytest.mark.parametrize("suffix", ["", "/data.json", "/erase"])
def test_expired_and_revoked_links_get_a_clear_4xx_page(app, client, ann, clock, suffix):
    path = preferences_path(app, ann) + suffix
    clock.advance(days=app.config["PREFERENCES_MAX_AGE_DAYS"], seconds=1)
    expired = client.get(path)
    assert expired.status_code == 410
    html = expired.get_data(as_text=True)
    assert "abgelaufen" in html and 'href="/preferences"' in html  # where to get a new one
    clock.advance(days=-2)
    assert client.get(path).status_code == 200
    with app.app_context():
        db.session.get(Subscriber, ann).access_nonce = new_nonce()
        db.session.commit()
    revoked = client.get(path)
    assert revoked.status_code == 410 and "nicht mehr gültig" in revoked.get_data(as_text=True)
    assert client.get("/preferences/garbage" + suffix).status_code == 404


def test_a_revoked_link_cannot_erase(app, client, ann):
    path = preferences_path(app, ann) + "/erase"
    fields = hidden_fields(client.get(path).get_data(as_text=True))
    with app.app_context():
        db.session.get(Subscriber, ann).access_nonce = new_nonce()
        db.session.commit()
    assert client.post(path, data=fields).status_code == 410
    assert status_of(app, ann) is SubscriberStatus.CONFIRMED


def test_other_tokens_do_not_open_the_page(app, client, ann):
    with app.app_context():
        subscriber = db.session.get(Subscriber, ann)
        for token in (tokens.make_confirm_token(subscriber), tokens.make_unsubscribe_token(subscriber)):
            assert client.get(f"/preferences/{token}").status_code == 404


def ask_for_link(client, email: str, headers: dict | None = None, **extra):
    page = client.get("/preferences", headers=headers)
    data = {**hidden_fields(page.get_data(as_text=True)), "email": email, **extra}
    response = client.post("/preferences", data=data, headers=headers)
    carry_out_requests(client.application)
    return response


def test_fresh_link_goes_only_to_known_addresses_with_the_same_answer(smtp_config, app, smtp_server, clock):
    client = app.test_client()
    sign_up_and_confirm(app, Visitor(client), smtp_server.messages, "ann@example.org")
    clock.advance(days=40)  # every link she had has expired
    english = {"Accept-Language": "en"}
    known = ask_for_link(client, "Ann@Example.org", headers=english)
    unknown = ask_for_link(client, "nobody@example.org", headers=english)
    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert "If we hold data about this address" in known.get_data(as_text=True)
    drain(app)
    (mail,) = [m for m in smtp_server.messages if "/preferences/" in m.get_body(("plain",)).get_content()]
    assert str(mail["To"]) == "ann@example.org"
    assert mail["List-Unsubscribe"] is None  # a service mail, not the newsletter
    assert "manage your subscription" in str(mail["Subject"])
    text = mail.get_body(("plain",)).get_content()
    assert "valid for 30 days" in text and "If you did not ask for this" in text
    path = link_in(mail, "preferences")
    page = client.get(path)
    assert page.status_code == 200 and "ann@example.org" in page.get_data(as_text=True)


def test_erased_addresses_get_no_link(app, client, visitor, outbox):
    ann = sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    with app.app_context():
        subscribers.erase(db.session.get(Subscriber, ann), "link")
        db.session.commit()
    sent_before = len(outbox)
    assert ask_for_link(client, "ann@example.org").status_code == 200
    drain(app)
    assert len(outbox) == sent_before


def test_fresh_links_per_address_are_capped(app, client, outbox, clock):
    with app.app_context():
        add_subscriber("ann@example.org")
        db.session.commit()
    answers = [ask_for_link(client, "ann@example.org").get_data() for _ in range(4)]
    assert len(set(answers)) == 1
    with app.app_context():
        queued = db.session.execute(
            select(func.count()).where(Delivery.kind == MailKind.PREFERENCES_LINK)
        ).scalar_one()
    assert queued == app.config["PREFERENCES_LINK_MAX_PER_ADDRESS"] == 2
    clock.advance(hours=24, seconds=1)
    ask_for_link(client, "ann@example.org")
    drain(app)
    assert len(outbox) == 3


@pytest.fixture
def limited(config):
    return limit(config, SUBSCRIBE=2)


def test_link_requests_are_rate_limited_per_client(limited, app, client):
    statuses = [ask_for_link(client, f"user{i}@example.org").status_code for i in range(3)]
    assert statuses == [200, 200, 429]


def test_bad_input_gets_the_form_again_and_bots_get_nothing(app, client, outbox):
    with app.app_context():
        add_subscriber("ann@example.org")
        db.session.commit()
    bad = ask_for_link(client, "not an address")
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    assert ask_for_link(client, "ann@example.org\r\nBcc: x@example.org").status_code == 400
    assert client.post("/preferences", data={"email": "ann@example.org"}).status_code == 400  # no CSRF
    bot = ask_for_link(client, "ann@example.org", website="https://spam.example")
    assert bot.status_code == 200
    drain(app)
    assert outbox == []

"""Leaving with one click: the page's button, RFC 8058 one-click, and the preferences page.

SPEC §3 and COMPLIANCE items 19–27: GET changes nothing; the page's POST needs its CSRF token,
the one-click POST needs nothing but the link; repeats are harmless; a withdrawal is recorded
once and cancels waiting mail at once; links keep working after re-subscription and key
rotation; bad tokens get a clear 4xx page.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from newsletter import digest, subscribers, tokens
from newsletter.delivery import sender
from newsletter.extensions import db
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Digest,
    Subscriber,
    SubscriberStatus,
)
from tests.support import locks
from tests.support.factories import add_subscriber
from tests.support.flows import drain, queue_digest, sign_up_and_confirm, status_of, withdrawals
from tests.support.limits import limit
from tests.support.visitor import hidden_fields, link_in

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def ann(app) -> tuple[int, str]:
    """A confirmed subscriber: (id, unsubscribe path)."""
    with app.app_context():
        subscriber = add_subscriber("ann@example.org")
        db.session.commit()
        return subscriber.id, f"/unsubscribe/{tokens.make_unsubscribe_token(subscriber)}"


def one_click(app, path: str, *, multipart: bool = False, **kwargs):
    """The POST a mailbox provider sends: a fresh client, no cookies, no CSRF token."""
    provider = app.test_client(use_cookies=False)
    content_type = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
    return provider.post(path, data=ONE_CLICK, content_type=content_type, **kwargs)


def press_button(client, path: str):
    page = client.get(path)
    return client.post(path, data=hidden_fields(page.get_data(as_text=True)))


def test_get_shows_one_button_and_changes_nothing(app, client, ann):
    subscriber_id, path = ann
    for _ in range(3):  # a mail scanner fetching the link, repeatedly
        page = client.get(path)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert html.count("<form") == 1 and 'method="post"' in html
        assert html.count("<button") == 1
        assert "csrf_token" in hidden_fields(html)
    assert status_of(app, subscriber_id) is SubscriberStatus.CONFIRMED
    assert withdrawals(app, subscriber_id) == []


def test_the_button_withdraws_and_records_one_link_event(app, client, ann, clock):
    subscriber_id, path = ann
    clock.advance(days=3)
    response = press_button(client, path)
    assert response.status_code == 200
    assert "<form" not in response.get_data(as_text=True)
    assert status_of(app, subscriber_id) is SubscriberStatus.WITHDRAWN
    assert withdrawals(app, subscriber_id) == ["link"]
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert subscriber.withdrawn_at == clock.now()


def test_the_pages_post_needs_its_csrf_token(app, client, ann):
    subscriber_id, path = ann
    client.get(path)  # a session exists, but the token is not sent
    assert client.post(path).status_code == 400
    assert client.post(path, data={"csrf_token": "forged"}).status_code == 400
    assert client.post(path, data={"List-Unsubscribe": "Something-Else"}).status_code == 400
    assert status_of(app, subscriber_id) is SubscriberStatus.CONFIRMED
    assert withdrawals(app, subscriber_id) == []


def test_the_button_works_over_https_with_the_referrer_a_browser_sends(app, ann):
    """Flask-WTF checks the Referer on HTTPS; the page must let the browser send it."""
    subscriber_id, path = ann
    browser = app.test_client()
    page = browser.get(path, base_url="https://news.example.org")
    html = page.get_data(as_text=True)
    policy = re.search(r'<meta name="referrer" content="([^"]+)"', html).group(1)
    assert policy in ("same-origin", "strict-origin", "strict-origin-when-cross-origin", "origin")
    response = browser.post(
        path,
        data=hidden_fields(html),
        base_url="https://news.example.org",
        headers={"Referer": f"https://news.example.org{path}"},
    )
    assert response.status_code == 200
    assert status_of(app, subscriber_id) is SubscriberStatus.WITHDRAWN


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_one_click_post_withdraws_without_cookie_or_csrf_and_never_redirects(app, ann, multipart):
    subscriber_id, path = ann
    response = one_click(app, path, multipart=multipart)
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.get_data() == b""
    assert "Set-Cookie" not in response.headers
    assert status_of(app, subscriber_id) is SubscriberStatus.WITHDRAWN
    assert withdrawals(app, subscriber_id) == ["one-click"]


def test_repeats_are_harmless_and_record_one_withdrawal(app, client, ann):
    subscriber_id, path = ann
    assert one_click(app, path).status_code == 200
    assert one_click(app, path, multipart=True).status_code == 200
    again = client.get(path)
    assert again.status_code == 200 and "<form" not in again.get_data(as_text=True)
    assert client.post(path, data=ONE_CLICK).status_code == 200
    assert withdrawals(app, subscriber_id) == ["one-click"]


def test_a_withdrawal_mid_send_cancels_that_readers_mail_only(smtp_app, smtp_server):
    emails = queue_digest(smtp_app, 30)
    leaver = emails[25]
    with smtp_app.app_context():
        assert sender.send_pending(limit=10).sent == 10  # the first ten have it; then a reader further down leaves
        path = f"/unsubscribe/{tokens.make_unsubscribe_token(subscribers.find_by_email(leaver))}"
    assert one_click(smtp_app, path).status_code == 200
    rest = drain(smtp_app)
    assert (rest.sent, rest.cancelled) == (19, 0)  # the withdrawal cancelled her mail before the sender came
    with smtp_app.app_context():
        issue_id = db.session.execute(select(Digest.id)).scalar_one()
        counts = digest.delivery_counts(issue_id)
        rows = db.session.execute(
            select(Subscriber.email, Delivery.status).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        ).all()
    assert counts[DeliveryStatus.SENT] == 29 and counts[DeliveryStatus.CANCELLED] == 1
    sent, cancelled = DeliveryStatus.SENT, DeliveryStatus.CANCELLED
    assert dict(rows) == {email: cancelled if email == leaver else sent for email in emails}
    assert smtp_server.handler.recipient_counts() == {email: 1 for email in emails if email != leaver}


def test_invalid_tokens_get_a_clear_404(app, client, ann):
    subscriber_id, path = ann
    token = path.rsplit("/", 1)[1]
    with app.app_context():
        confirm_token = tokens.make_confirm_token(db.session.get(Subscriber, subscriber_id))
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "garbage",
        confirm_token,
        token + "x",
    ):
        page = client.get(f"/unsubscribe/{bad}")
        assert page.status_code == 404
        assert "nicht mehr gültig" in page.get_data(as_text=True)
        assert one_click(app, f"/unsubscribe/{bad}").status_code == 404
    assert status_of(app, subscriber_id) is SubscriberStatus.CONFIRMED


def test_an_erased_subscriber_gets_the_same_generic_answer(app, client):
    with app.app_context():
        erased = add_subscriber(None, SubscriberStatus.ERASED)
        gone = Subscriber(
            id=999, email=None, status=SubscriberStatus.ERASED
        )  # its row deleted since
        db.session.commit()
        paths = [f"/unsubscribe/{tokens.make_unsubscribe_token(s)}" for s in (erased, gone)]
        erased_id = erased.id
    pages = []
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200 and "<form" not in page.get_data(as_text=True)
        pages.append(page.get_data(as_text=True))
        assert one_click(app, path).status_code == 200
        assert client.post(path, data=ONE_CLICK).status_code == 200
    assert pages[0] == pages[1]
    assert withdrawals(app, erased_id) == []


def test_an_old_unsubscribe_link_works_after_signing_up_again(app, client, visitor, outbox, clock):
    sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    queue_digest(app)
    drain(app)
    path = link_in(outbox[-1], "unsubscribe")  # from the digest
    assert one_click(app, path).status_code == 200

    clock.advance(days=90)
    subscriber_id = sign_up_and_confirm(app, visitor, outbox, "ann@example.org")  # a new double opt-in, months later
    assert status_of(app, subscriber_id) is SubscriberStatus.CONFIRMED

    assert press_button(client, path).status_code == 200  # the link from the first mail
    assert status_of(app, subscriber_id) is SubscriberStatus.WITHDRAWN
    assert withdrawals(app, subscriber_id) == ["one-click", "link"]


def test_unsubscribe_links_survive_key_rotation_and_never_expire(app, client, ann, clock):
    subscriber_id, path = ann
    app.config["SECRET_KEY_FALLBACKS"] = [app.config["SECRET_KEY"]]
    app.config["SECRET_KEY"] = "the-new-secret"
    clock.advance(days=3650)
    assert client.get(path).status_code == 200
    assert press_button(client, path).status_code == 200
    assert status_of(app, subscriber_id) is SubscriberStatus.WITHDRAWN


def test_two_one_clicks_at_once_record_one_withdrawal(app, ann):
    """A provider may repeat its POST; the second waits for the first and records nothing."""
    subscriber_id, path = ann

    def first() -> bool:
        return subscribers.withdraw(db.session.get(Subscriber, subscriber_id), "one-click")

    def second() -> int:
        return one_click(app, path).status_code

    # The second POST waits for the first one's lock, then finds ann withdrawn.
    assert locks.second_waits_for_first(app, first, second) == (True, 200)
    assert withdrawals(app, subscriber_id) == ["one-click"]


@pytest.fixture
def limited(config):
    return limit(config, TOKEN_PAGES=2)


def test_one_click_is_never_rate_limited_but_forged_tokens_are(limited, app, ann):
    _subscriber_id, path = ann
    pages = app.test_client()
    assert [pages.get(path).status_code for _ in range(3)] == [200, 200, 429]
    # A provider relays many readers' clicks from one address: none may be turned away.
    assert [one_click(app, path).status_code for _ in range(5)] == [200] * 5
    assert [one_click(app, "/unsubscribe/forged.token").status_code for _ in range(3)] == [
        404,
        404,
        429,
    ]

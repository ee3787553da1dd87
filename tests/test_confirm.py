"""GET /confirm/<token> shows a button; only the POST confirms. Links expire and are revocable."""

from __future__ import annotations

from sqlalchemy import select

from newsletter import subscribers, tokens
from newsletter.extensions import db
from newsletter.models import ConsentEvent, SubscriberStatus
from tests.support.flows import sign_up
from tests.support.visitor import hidden_fields


def signed_up(app, visitor, outbox_messages) -> str:
    """Ann has asked to subscribe; the link from her confirmation mail."""
    return sign_up(app, visitor, outbox_messages, "ann@example.org")


def status_of(app, email="ann@example.org"):
    with app.app_context():
        return subscribers.find_by_email(email).status


def events_of(app, email="ann@example.org"):
    with app.app_context():
        subscriber = subscribers.find_by_email(email)
        return db.session.execute(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id).order_by(ConsentEvent.id)
        ).scalars().all()


def test_get_shows_a_button_and_changes_nothing(app, client, visitor, outbox):
    link = signed_up(app, visitor, outbox)
    path = link.split("news.example.org", 1)[1]
    for _ in range(3):  # a mail scanner fetching the link, repeatedly
        page = client.get(path)
        assert page.status_code == 200
        assert 'method="post"' in page.get_data(as_text=True)
    assert status_of(app) is SubscriberStatus.PENDING
    assert [e.type for e in events_of(app)] == ["requested"]


def test_post_confirms_and_records_evidence(app, client, visitor, outbox, clock):
    link = signed_up(app, visitor, outbox)
    clock.advance(hours=2)
    visitor.headers["User-Agent"] = "Confirming Browser/1.0"
    response = visitor.confirm(link)
    assert response.status_code == 200
    assert "Anmeldung ist bestätigt" in response.get_data(as_text=True)
    assert status_of(app) is SubscriberStatus.CONFIRMED
    requested, confirmed = events_of(app)
    assert confirmed.type == "confirmed" and confirmed.channel == "link"
    assert confirmed.at == clock.now()
    assert confirmed.ip == "127.0.0.1" and confirmed.user_agent == "Confirming Browser/1.0"
    assert confirmed.consent_text_id == requested.consent_text_id


def test_reusing_the_link_is_harmless(app, visitor, outbox):
    link = signed_up(app, visitor, outbox)
    visitor.confirm(link)
    again = visitor.confirm(link)
    assert again.status_code == 200
    assert "Bereits bestätigt" in again.get_data(as_text=True)
    assert [e.type for e in events_of(app)] == ["requested", "confirmed"]


def test_post_without_csrf_token_is_refused(app, client, visitor, outbox):
    link = signed_up(app, visitor, outbox)
    path = link.split("news.example.org", 1)[1]
    assert client.post(path).status_code == 400
    assert status_of(app) is SubscriberStatus.PENDING


def test_expired_link_gets_a_clear_410(app, visitor, outbox, clock):
    link = signed_up(app, visitor, outbox)
    clock.advance(days=7, seconds=1)
    response = visitor.confirm(link)
    assert response.status_code == 410
    assert "abgelaufen" in response.get_data(as_text=True)
    assert status_of(app) is SubscriberStatus.PENDING


def test_link_is_still_good_just_before_it_expires(app, visitor, outbox, clock):
    link = signed_up(app, visitor, outbox)
    clock.advance(days=7, seconds=-1)
    assert visitor.confirm(link).status_code == 200
    assert status_of(app) is SubscriberStatus.CONFIRMED


def test_expired_post_is_refused_even_if_the_page_was_open(app, client, visitor, outbox, clock):
    link = signed_up(app, visitor, outbox)
    path = link.split("news.example.org", 1)[1]
    page = client.get(path)
    clock.advance(days=8)
    assert client.post(path, data=hidden_fields(page.get_data(as_text=True))).status_code == 410


def test_tampered_link_gets_a_clear_404(app, visitor, outbox):
    link = signed_up(app, visitor, outbox)
    token = link.rsplit("/", 1)[1]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "garbage", "a.b.c", token + "x"):
        response = visitor.confirm(bad)
        assert response.status_code == 404
        assert "nicht mehr gültig" in response.get_data(as_text=True)
    assert status_of(app) is SubscriberStatus.PENDING


def test_newer_mail_revokes_the_older_link(app, visitor, outbox):
    first = signed_up(app, visitor, outbox)
    second = signed_up(app, visitor, outbox)
    assert first != second
    assert visitor.confirm(first).status_code == 410
    assert status_of(app) is SubscriberStatus.PENDING
    assert visitor.confirm(second).status_code == 200
    assert status_of(app) is SubscriberStatus.CONFIRMED


def test_old_link_never_resubscribes_after_withdrawal(app, visitor, outbox):
    link = signed_up(app, visitor, outbox)
    visitor.confirm(link)
    with app.app_context():
        subscribers.withdraw(subscribers.find_by_email("ann@example.org"), "link")
        db.session.commit()
    response = visitor.confirm(link)
    assert response.status_code == 410
    assert status_of(app) is SubscriberStatus.WITHDRAWN


def test_withdrawn_address_can_sign_up_again_through_a_new_double_opt_in(app, visitor, outbox):
    visitor.confirm(signed_up(app, visitor, outbox))
    with app.app_context():
        subscribers.withdraw(subscribers.find_by_email("ann@example.org"), "link")
        db.session.commit()
    link = signed_up(app, visitor, outbox)
    assert status_of(app) is SubscriberStatus.WITHDRAWN  # a request alone subscribes nobody
    visitor.confirm(link)
    assert status_of(app) is SubscriberStatus.CONFIRMED
    assert [e.type for e in events_of(app)] == ["requested", "confirmed", "withdrawn", "requested", "confirmed"]


def test_token_holds_no_address(app, visitor, outbox):
    link = signed_up(app, visitor, outbox)
    payload = link.rsplit("/", 1)[1].split(".")[0]
    import base64
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "ann" not in decoded and "example" not in decoded
    with app.app_context():
        assert tokens.load_confirm_token(link.rsplit("/", 1)[1]).email == "ann@example.org"

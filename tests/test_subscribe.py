"""POST /subscribe: the sign-up form, its consent statement, and everything a visitor can send."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from newsletter import subscribers
from newsletter.delivery import queue
from newsletter.extensions import db
from newsletter.models import AddressRequest, ConsentEvent, Delivery, DoiSend, Subscriber, SubscriberStatus
from tests.support.flows import sign_up_and_confirm
from tests.support.visitor import Visitor, carry_out_requests, hidden_fields


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_form_is_german_by_default(client):
    # One email field, the statement naming the button „Abschicken", nothing pre-ticked.
    page = client.get("/").get_data(as_text=True)
    assert 'lang="de"' in page
    assert ">Abschicken</button>" in page
    assert "„Abschicken“" in page
    assert "Beispiel Verlag" in page
    for words in ("Produktneuigkeiten", "Finanznachrichten", "Sonderangebote",
                  "jederzeit ohne Angabe von Gründen mit Wirkung für die Zukunft widerrufen",
                  "Rechtmäßigkeit der bis zum Widerruf erfolgten Verarbeitung bleibt"):
        assert words in page
    assert 'type="checkbox"' not in page
    assert page.count('type="email"') == 1
    assert 'href="/privacy"' in page


def test_form_is_english_when_the_browser_prefers_it(client):
    page = client.get("/subscribe", headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"}).get_data(as_text=True)
    assert 'lang="en"' in page
    assert ">Subscribe</button>" in page
    assert "“Subscribe”" in page
    for words in ("product news", "financial news", "special offers",
                  "withdraw this consent at any time, without giving reasons, with effect for the future",
                  "lawfulness of the processing carried out before it"):
        assert words in page


def test_privacy_notice_page_in_both_languages(client):
    assert "Datenschutzhinweise" in client.get("/privacy").get_data(as_text=True)
    english = client.get("/privacy", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Privacy notice" in english and "supervisory authority" in english


def test_sign_up_writes_subscriber_event_and_mail_together_without_sending(app, visitor, outbox):
    # Subscriber, `requested` event and queued DOI mail land in one transaction; no SMTP.
    response = visitor.sign_up("Ann.Example@Example.ORG")
    assert response.status_code == 200
    assert outbox == []
    with app.app_context():
        subscriber = db.session.execute(select(Subscriber)).scalar_one()
        assert subscriber.email == "ann.example@example.org"
        assert subscriber.status is SubscriberStatus.PENDING
        event = db.session.execute(select(ConsentEvent)).scalar_one()
        assert (event.type, event.channel) == ("requested", "form")
        assert event.ip == "127.0.0.1" and event.user_agent == "Mozilla/5.0 (pytest)"
        assert event.consent_text.language == "de" and "Abschicken" in event.consent_text.text
        delivery = db.session.execute(select(Delivery)).scalar_one()
        assert (delivery.kind, delivery.status) == ("confirm", "queued")


def test_sign_up_is_rolled_back_whole_when_the_mail_cannot_be_queued(app, visitor, monkeypatch):
    """The worker records a sign-up and queues its mail in one transaction: if the mail cannot
    be queued, nothing of it stays but the request, which is carried out on the next run."""
    def broken_enqueue(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(queue, "enqueue", broken_enqueue)
    assert visitor.sign_up("ann@example.org").status_code == 200
    with app.app_context():
        assert count(Subscriber) == count(ConsentEvent) == count(Delivery) == 0
        assert count(AddressRequest) == 1
    monkeypatch.undo()
    carry_out_requests(app)
    with app.app_context():
        assert count(Subscriber) == count(ConsentEvent) == count(Delivery) == 1
        assert count(AddressRequest) == 0


@pytest.mark.parametrize("state", ["new", "pending", "confirmed", "withdrawn"])
def test_answer_is_the_same_whatever_the_address_state(app, client, outbox, state):
    # No enumeration: status and body do not tell whether an address is known.
    reference = Visitor(client).sign_up("reference@example.org")
    visitor = Visitor(client)
    if state == "pending":
        visitor.sign_up("ann@example.org")
    if state in ("confirmed", "withdrawn"):
        sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    if state == "withdrawn":
        with app.app_context():
            subscribers.withdraw(subscribers.find_by_email("ann@example.org"), "link")
            db.session.commit()
    response = visitor.sign_up("ann@example.org")
    assert response.status_code == reference.status_code == 200
    assert response.get_data() == reference.get_data()


def test_confirmed_address_gets_no_new_mail_and_no_event(app, visitor, outbox):
    sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    visitor.sign_up("ann@example.org")
    with app.app_context():
        assert count(Delivery) == 1
        assert [e.type for e in db.session.execute(select(ConsentEvent).order_by(ConsentEvent.id)).scalars()] == [
                "requested", "confirmed"]


def test_confirmation_mails_per_address_are_capped(app, client, config):
    # DOI_MAX_PER_ADDRESS per 24 h, whatever the client; the page still answers the same.
    for agent in ("a", "b", "c", "d"):
        visitor = Visitor(client)
        visitor.headers["User-Agent"] = agent
        assert visitor.sign_up("ann@example.org").status_code == 200
    with app.app_context():
        assert count(Delivery) == config.get("DOI_MAX_PER_ADDRESS", 2) == 2
        assert count(DoiSend) == 2
        assert db.session.execute(select(DoiSend.address_hash)).scalars().first() != "ann@example.org"


def test_cap_resets_after_24_hours(app, client, clock):
    visitor = Visitor(client)
    for _ in range(3):
        visitor.sign_up("ann@example.org")
    clock.advance(hours=24, seconds=1)
    visitor.sign_up("ann@example.org")
    with app.app_context():
        assert count(Delivery) == 3


def test_honeypot_drops_bots_silently(app, visitor):
    human = visitor.sign_up("human@example.org")
    bot = visitor.sign_up("bot@example.org", website="http://spam.example")
    assert bot.status_code == 200 and bot.get_data() == human.get_data()
    with app.app_context():
        assert db.session.execute(select(Subscriber.email)).scalars().all() == ["human@example.org"]


@pytest.mark.parametrize(
    "email",
    ["", "not-an-address", "ann@", "@example.org", "ann@example", "ann example@example.org",
     "a" * 250 + "@example.org", "ann@exa mple.org", "ann@@example.org",
     "jörg@example.de"],  # a mailbox name beyond ASCII would need SMTPUTF8 at every relay
)
def test_invalid_addresses_get_the_form_again_with_a_message(app, visitor, email):
    response = visitor.sign_up(email)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'class="errors"' in page and "<form" in page
    with app.app_context():
        assert count(Subscriber) == 0


def test_line_breaks_in_any_field_are_refused(app, visitor):
    for fields in ({"email": "ann@example.org\r\nBcc: victim@example.org"}, {"website": "\n"}):
        page = visitor.client.get("/subscribe")
        data = {**hidden_fields(page.get_data(as_text=True)), "email": "ann@example.org", "website": ""}
        data.update(fields)
        assert visitor.client.post("/subscribe", data=data).status_code == 400
    with app.app_context():
        assert count(Subscriber) == 0


def test_missing_csrf_token_is_a_clear_400(app, client):
    page = client.get("/subscribe").get_data(as_text=True)
    fields = hidden_fields(page)
    fields.pop("csrf_token")
    response = client.post("/subscribe", data={**fields, "email": "ann@example.org"})
    assert response.status_code == 400
    assert "Formular abgelaufen" in response.get_data(as_text=True)
    with app.app_context():
        assert count(Subscriber) == 0


def test_over_long_body_is_a_clear_413(client):
    response = client.post("/subscribe", data={"email": "a" * (2 * 1024 * 1024)})
    assert response.status_code == 413


def test_garbage_consent_version_gets_the_form_again(app, client):
    page = client.get("/subscribe").get_data(as_text=True)
    fields = {**hidden_fields(page), "email": "ann@example.org", "consent_version": "f" * 64}
    response = client.post("/subscribe", data=fields)
    assert response.status_code == 409
    assert "Einwilligungserklärung hat sich geändert" in response.get_data(as_text=True)
    with app.app_context():
        assert count(Subscriber) == 0


def test_statement_changed_between_page_and_submit_shows_the_new_one(app, client):
    page = client.get("/subscribe").get_data(as_text=True)
    app.config["CONSENT_TEXT"] = {"de": "Neuer Wortlaut mit „{button}“ von {site_name}."}
    response = client.post("/subscribe", data={**hidden_fields(page), "email": "ann@example.org"})
    # The version the visitor saw is stored and valid, so the sign-up refers to exactly it.
    assert response.status_code == 200
    carry_out_requests(app)
    with app.app_context():
        event = db.session.execute(select(ConsentEvent)).scalar_one()
        assert "Neuer Wortlaut" not in event.consent_text.text


def test_wrong_method_and_unknown_pages_are_clear_4xx(client):
    assert client.put("/subscribe").status_code == 405
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "Seite nicht gefunden" in missing.get_data(as_text=True)


@pytest.mark.parametrize("sent", [None, {"email": "not an address", "website": "<b>bot</b>"}])
def test_the_forms_fields_written_out_are_what_wtforms_would_render(app, client, sent):
    # templates/public/subscribe.html writes the fields out for speed (issue 16); they must stay
    # what the form's own widgets render, whatever the form and its validators become.
    from newsletter.forms import SubscribeForm

    if sent is None:
        page = client.get("/").get_data(as_text=True)
    else:
        token = hidden_fields(client.get("/").get_data(as_text=True))
        page = client.post("/subscribe", data={**token, **sent}).get_data(as_text=True)
    with app.test_request_context("/subscribe", method="POST", data=sent or {}):
        form = SubscribeForm() if sent else SubscribeForm(formdata=None)
        if sent:
            form.validate()
        invalid = {"aria-invalid": "true"} if form.email.errors else {}
        expected = [
            f"{form.email.label}",
            f"{form.email(required=True, autocomplete='email', maxlength=254, **invalid)}",
            f"{form.website.label}{form.website(tabindex='-1', autocomplete='off')}",
            # The hidden fields up to their values (a fresh token, the statement's hash).
            f"{form.csrf_token()}".split(" value=")[0],
            f"{form.consent_version()}".split(" value=")[0],
        ]
    for markup in expected:
        assert markup in page, markup

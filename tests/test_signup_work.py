"""What a sign-up page and a sign-up cost the database and the process (issue 16): a page with
the form reads nothing once its wording is known (no transaction, so on SQLite no write lock);
a sign-up, whichever way it came, writes its request and nothing else; the wording's
``last_shown_at`` moves at most hourly; WTForms' catalogue is loaded once per process, not
per request; SQLite runs in WAL mode with a busy timeout; the worker renders a confirmation
mail once per language and run, not once per sign-up (its work competes with the pages for
the machine). Throughput itself is measured by bench/signup.py, never timed here."""

from __future__ import annotations

import pytest
from babel import support
from flask import template_rendered
from flask_wtf import FlaskForm
from sqlalchemy import text

from newsletter import consent
from newsletter.extensions import db
from newsletter.models import ConsentEvent, ConsentText, Subscriber
from newsletter.webforms import Form
from tests.support.embedding import allow_publisher, api_sign_up, consent_text, plain_form_post
from tests.support.statements import recorded_statements, writes
from tests.support.flows import drain
from tests.support.visitor import Visitor, carry_out_requests, confirm_link, hidden_fields

PAGES = ("/", "/subscribe", "/embed/subscribe", "/api/v1/consent-text?lang=de", "/api/v1/consent-text?lang=en")


@pytest.fixture
def config(config):
    return allow_publisher(config)


def _warm_up(client) -> None:
    """The first views store the wording (and a process learns it): not what is measured."""
    for _ in range(2):
        for language in ("de", "en"):
            for path in PAGES:
                assert client.get(path, headers={"Accept-Language": language}).status_code == 200


def test_a_page_with_the_sign_up_form_reads_nothing_once_its_wording_is_known(app, client):
    _warm_up(client)
    for language in ("de", "en"):
        for path in PAGES:
            with recorded_statements(app) as statements:
                response = client.get(path, headers={"Accept-Language": language})
            assert response.status_code == 200
            assert statements == [], f"GET {path} ({language})"


def test_a_changed_wording_is_shown_and_stored_at_once(app, client, visitor):
    _warm_up(client)
    app.config["CONSENT_TEXT"] = {"de": "Neu: {site_name} schreibt mir („{button}“)."}
    page = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Neu: Beispiel Verlag schreibt mir („Abschicken“)." in page
    assert visitor.sign_up("ann@example.org").status_code == 200
    with app.app_context():
        assert consent.find_text_version(hidden_fields(page)["consent_version"]).text.startswith("Neu:")


def test_a_sign_up_writes_its_request_and_nothing_else_whichever_way_it_came(app, client):
    _warm_up(client)
    visitor = Visitor(client)
    page = client.get("/", headers=visitor.headers).get_data(as_text=True)
    version = consent_text(client)["version"]
    ways = {
        "form": lambda email: client.post(
            "/subscribe", data={**hidden_fields(page), "email": email, "website": ""}, headers=visitor.headers
        ),
        "plain form": lambda email: plain_form_post(client, email),
        "api": lambda email: api_sign_up(client, email, version=version),
    }
    for way, post in ways.items():
        with recorded_statements(app) as statements:
            response = post(f"{way.replace(' ', '-')}@example.org")
        assert response.status_code in (200, 202), way
        sent = [s for s in statements if s != "BEGIN IMMEDIATE"]  # SQLite's start of a writing transaction
        assert len(sent) == 1 and writes(sent) == ["INSERT INTO address_request"], (way, sent)


def test_the_wordings_last_shown_time_moves_at_most_hourly_and_never_with_a_sign_up(app, client, visitor, clock):
    start = clock.now()
    _warm_up(client)
    for minutes in (10, 30, 59):
        clock.advance(minutes=minutes - (clock.now() - start).total_seconds() / 60)
        visitor.sign_up(f"reader{minutes}@example.org")
        with recorded_statements(app) as statements:
            carry_out_requests(app)
        assert [s for s in writes(statements) if "consent_text" in s] == []
    with app.app_context():
        (version,) = db.session.scalars(db.select(ConsentText).filter_by(language="de"))
        assert version.last_shown_at == start
    clock.advance(minutes=2)  # an hour and a minute after it was last written
    client.get("/", headers={"Accept-Language": "de"})
    with app.app_context():
        (version,) = db.session.scalars(db.select(ConsentText).filter_by(language="de"))
        assert version.last_shown_at == clock.now()


def test_wtforms_catalogue_is_loaded_once_per_process_not_per_request(app, client, monkeypatch):
    _warm_up(client)
    loads = []
    original = support.Translations.load.__func__

    def counting_load(cls, dirname=None, locales=None, domain=None):
        loads.append(domain)
        return original(cls, dirname, locales, domain)

    monkeypatch.setattr(support.Translations, "load", classmethod(counting_load))
    visitor = Visitor(client)
    for language in ("de", "en"):
        visitor.headers["Accept-Language"] = language
        response = visitor.sign_up("")  # refused: the form's messages are needed
        assert response.status_code == 422
    assert "wtforms" not in loads


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_normal_sync(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite only")
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
            # NORMAL: in WAL mode safe against a crashed process, one fsync less per commit
            # (issue 16); what a power cut may take back is the last commits, never a torn file.
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1


def test_every_form_of_the_service_takes_the_catalogue_loaded_once(app):
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = [form for form in subclasses(FlaskForm) if form.__module__.startswith("newsletter.")]
    assert len(ours) > 10
    assert [form.__qualname__ for form in ours if not issubclass(form, Form)] == []


def test_carrying_out_a_new_addresss_sign_up_reads_the_wording_with_it_and_nothing_twice(app, client):
    _warm_up(client)
    page = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    response = client.post("/subscribe", data={**hidden_fields(page), "email": "new@example.org", "website": ""})
    assert response.status_code == 200
    with recorded_statements(app) as statements:
        carry_out_requests(app)
    reads = [" ".join(s.split()[:4]) for s in statements if s.lstrip().upper().startswith("SELECT")]
    # The wording comes with the request; the subscriber row is looked up once (its insert
    # in this transaction is its lock); its nonce goes in with the insert, not after it.
    assert [r for r in reads if "consent_text.id" in r and "address_request" not in r] == []
    assert len([s for s in statements if s.lstrip().startswith("SELECT subscriber.id")]) == 1
    assert writes(statements).count("UPDATE subscriber") == 1  # its evidence head
    with app.app_context():
        (event,) = db.session.scalars(db.select(ConsentEvent))
        subscriber = db.session.get(Subscriber, event.subscriber_id)
        assert event.consent_text.language == "de" and subscriber.confirm_nonce
        assert subscriber.evidence_head == event.hash

def test_the_worker_renders_a_confirmation_mail_once_per_language_and_run(app, client, outbox):
    readers = {"de": [f"leser{n}@example.org" for n in range(4)], "en": [f"reader{n}@example.org" for n in range(3)]}
    for language, addresses in readers.items():
        visitor = Visitor(client, language)
        for address in addresses:
            assert visitor.sign_up(address).status_code == 200
    rendered = []

    def note(sender, template, context, **extra):
        rendered.append(template.name)

    with template_rendered.connected_to(note, app):
        assert drain(app).sent == 7
    assert sorted(name for name in rendered if name == "email/confirm.html") == ["email/confirm.html"] * 2
    for language, addresses in readers.items():
        for address in addresses:
            (message,) = [message for message in outbox if message["To"] == address]
            assert f'<html lang="{language}"' in message.get_body(("html",)).get_content()
            response = Visitor(client, language).confirm(confirm_link(message))
            assert response.status_code == 200, address  # each mail carries its own reader's link
    with app.app_context():
        assert {s.email for s in db.session.scalars(db.select(Subscriber)) if s.status.value == "confirmed"} == {
            address for addresses in readers.values() for address in addresses
        }

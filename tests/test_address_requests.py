"""A request that anybody can make for an address (sign-up, a fresh preferences link) does the
same work whatever the address's state, so neither its answer nor its timing tells whether
the address is known (issue 12 point 4: a new address took 100 ms, a confirmed one 36 ms).
The worker carries the request out afterwards, with the request's own time and evidence, and
a per-address cap holds however many requests for one address run at once (point 7).
"""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import event, func, select

from newsletter import address_requests, consent, scheduler, subscribers
from newsletter.extensions import db
from newsletter.models import (
    AddressRequest,
    ConsentEvent,
    ConsentEventType,
    Delivery,
    MailKind,
    Subscriber,
    SubscriberStatus,
)
from tests.support import services
from tests.support.embedding import PUBLISHER, allow_publisher, consent_text
from tests.support.factories import add_subscriber
from tests.support.visitor import Visitor, hidden_fields

STATES = {
    "new": None,
    "pending": SubscriberStatus.PENDING,
    "confirmed": SubscriberStatus.CONFIRMED,
    "withdrawn": SubscriberStatus.WITHDRAWN,
    "suspended": SubscriberStatus.SUSPENDED,
}


def statements_of(app, send) -> list[str]:
    """The SQL statements ``send()`` runs, their literal values blanked out."""
    seen: list[str] = []

    def remember(_connection, _cursor, statement, _parameters, _context, _many):
        seen.append(re.sub(r"'[^']*'|\b\d+\b", "?", " ".join(statement.split())))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        response = send()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    return response, seen


def _page_form(path):
    """A post of the form on our own page ``path``, its hidden fields (CSRF token, wording) included."""

    def post(client, email):
        page = client.get(path, headers={"Accept-Language": "de"})
        data = {**hidden_fields(page.get_data(as_text=True)), "website": "", "email": email}
        return lambda: client.post(path, data=data, headers={"Accept-Language": "de"})

    return post


def _plain_form(client, email):
    """The publisher's plain form (issue 14): no token, its Origin checked."""
    data = {"email": email, "consent_version": consent_text(client, origin=None)["version"]}
    return lambda: client.post("/subscribe", data=data, headers={"Origin": PUBLISHER, "Accept-Language": "de"})


def _api(client, email):
    body = {"email": email, "consent_version": consent_text(client)["version"], "channel": "embed"}
    return lambda: client.post("/api/v1/subscriptions", json=body, headers={"Origin": PUBLISHER})


@pytest.mark.parametrize(
    "way",
    [_page_form("/subscribe"), _page_form("/preferences"), _plain_form, _api],
    ids=["sign-up", "preferences-link", "plain-form", "api"],
)
def test_the_request_does_the_same_work_for_every_state_of_the_address(app, client, way):
    allow_publisher(app.config)
    with app.app_context():
        for state, status in STATES.items():
            if status is not None:
                add_subscriber(f"{state}@example.org", status)
        db.session.commit()
    answers = {}
    for state in STATES:
        send = way(client, f"{state}@example.org")
        response, statements = statements_of(app, send)
        answers[state] = (response.status_code, response.get_data(), statements)
    first = answers["new"]
    assert first[0] in (200, 202)
    for state, answer in answers.items():
        assert answer == first, f"{state} differs from a new address"
    with app.app_context():  # nothing decided on the request: each one waits for the worker
        assert db.session.scalar(select(func.count()).select_from(AddressRequest)) == len(STATES)
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_the_worker_records_the_sign_up_with_the_requests_own_time_and_evidence(app, client, clock):
    visitor = Visitor(client)
    page = client.get("/subscribe", headers=visitor.headers)
    data = {**hidden_fields(page.get_data(as_text=True)), "email": "Ann@Example.org", "website": ""}
    client.post("/subscribe", data=data, headers=visitor.headers, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    requested_at = clock.now()
    clock.advance(seconds=5)
    with app.app_context():
        assert address_requests.carry_out() == 1
        (requested,) = db.session.execute(select(ConsentEvent)).scalars()
        assert (requested.type, requested.at) == (ConsentEventType.REQUESTED, requested_at)
        assert requested.ip == "198.51.100.7"
        assert requested.user_agent == visitor.headers["User-Agent"]
        assert requested.consent_text is not None
        assert subscribers.find_by_email("ann@example.org").status is SubscriberStatus.PENDING
        assert db.session.scalar(select(func.count()).select_from(AddressRequest)) == 0
        assert db.session.scalar(select(Delivery.kind)) is MailKind.CONFIRM
        assert address_requests.carry_out() == 0


def test_the_workers_send_job_carries_out_the_requests_and_sends_their_mails(app, client, outbox):
    page = client.get("/subscribe")
    client.post("/subscribe", data={**hidden_fields(page.get_data(as_text=True)), "email": "ann@example.org"})
    assert outbox == []
    with app.app_context():
        scheduler.send_mail()
    assert [str(message["To"]) for message in outbox] == ["ann@example.org"]


def test_requests_that_come_in_while_the_worker_carries_out_wait_for_its_next_run(app, monkeypatch, outbox):
    """While the form is busier than the worker, a run used to carry out requests for as long
    as new ones came in, and sent none of their mails until the sign-ups slowed (issue 16)."""
    with app.app_context():
        text = consent.text_version("de")
        for n in range(3):
            address_requests.submit_sign_up(f"early{n}@example.org", text=text, locale="de", ip=None, user_agent=None)
        db.session.commit()
    real = address_requests._carry_out
    arrivals = iter(range(100))

    def carry_out_while_more_come_in(request):
        real(request)
        address_requests.submit_sign_up(
            f"late{next(arrivals)}@example.org", text=request.consent_text, locale="de", ip=None, user_agent=None
        )

    monkeypatch.setattr(address_requests, "_carry_out", carry_out_while_more_come_in)
    with app.app_context():
        report = scheduler.send_mail()
        assert report == "3 visitor requests carried out, 3 sent"
        assert sorted(str(message["To"]) for message in outbox) == [f"early{n}@example.org" for n in range(3)]
        assert db.session.scalar(select(func.count()).select_from(AddressRequest)) == 3  # the next run's

def test_a_request_that_fails_stays_and_stops_no_other(app, monkeypatch):
    with app.app_context():
        add_subscriber("known@example.org")
        db.session.commit()
        address_requests.submit_preferences_link("broken@example.org", "de")
        address_requests.submit_preferences_link("known@example.org", "de")
        db.session.commit()
        real = address_requests.prefs.request_link

        def request_link(email, locale):
            if email == "broken@example.org":
                raise RuntimeError("a bug")
            real(email, locale)

        monkeypatch.setattr(address_requests.prefs, "request_link", request_link)
        assert address_requests.carry_out() == 1
        assert db.session.scalars(select(AddressRequest.email)).all() == ["broken@example.org"]
        assert db.session.scalar(select(Delivery.kind)) is MailKind.PREFERENCES_LINK


def test_an_erasure_takes_the_requests_for_the_address_still_waiting(app):
    """A sign-up or link asked for before the erasure must not bring the address back."""
    with app.app_context():
        ann = add_subscriber("ann@example.org")
        text = consent.text_version("de")
        address_requests.submit_sign_up("ann@example.org", text=text, locale="de", ip=None, user_agent=None)
        address_requests.submit_preferences_link("ann@example.org", "de")
        address_requests.submit_preferences_link("bob@example.org", "de")
        subscribers.erase(ann, "link")
        db.session.commit()
        assert db.session.scalars(select(AddressRequest.email)).all() == ["bob@example.org"]
        address_requests.carry_out()
        assert subscribers.find_by_email("ann@example.org") is None
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


@pytest.fixture
def on_postgresql(config):
    """The PostgreSQL server, whatever database the rest of the suite uses (SQLite runs every
    write transaction under one lock, so requests there never run at once)."""
    uri = services.postgres_uri()
    services.require(services.reachable(uri), "PostgreSQL (127.0.0.1:5432)")
    config["SQLALCHEMY_DATABASE_URI"] = uri
    return config


@pytest.mark.postgres
def test_the_doi_cap_holds_for_requests_carried_out_at_once(on_postgresql, app):
    """16 sign-ups for one address handled by 8 threads at once: DOI_MAX_PER_ADDRESS requests,
    mails and caps recorded, never more (before: 5 events and 5 mails against a cap of 2)."""
    with app.app_context():
        text = consent.text_version("de")
        db.session.commit()
        text_id = text.id
    start = threading.Barrier(8)

    def sign_up_twice() -> None:
        with app.app_context():
            start.wait()
            for _ in range(2):
                subscribers.request_subscription(
                    "race@example.org", text=db.session.get(type(text), text_id), locale="de", ip=None, user_agent=None
                )
                db.session.commit()

    threads = [threading.Thread(target=sign_up_twice) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        cap = app.config["DOI_MAX_PER_ADDRESS"]
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1
        assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == cap
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == cap

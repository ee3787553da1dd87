"""Subscribers in the admin area: search, filter, pages, consent history, evidence, withdrawal (SPEC §4)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event, text

from newsletter import consent, subscribers
from newsletter.admin import subscriber_search
from newsletter.delivery import queue
from newsletter.extensions import db
from newsletter.models import (
    ConsentChannel,
    ConsentEventType,
    Delivery,
    DeliveryStatus,
    SubscriberStatus,
)
from tests.support.admin import post
from tests.support.factories import add_subscriber
from tests.support.flows import sign_up_and_confirm


def _addresses(response) -> list[str]:
    html = response.get_data(as_text=True)
    return re.findall(r'<td class="address"><a href="/admin/subscribers/\d+">([^<]+)</a>', html)


@pytest.fixture
def people(app):
    with app.app_context():
        add_subscriber("anna@example.org")
        add_subscriber("anna.b@example.org", SubscriberStatus.PENDING)
        add_subscriber("hanna@example.org")
        add_subscriber("ab@example.org", SubscriberStatus.WITHDRAWN)
        add_subscriber("a_c@example.org", SubscriberStatus.SUSPENDED)
        add_subscriber("bert@example.net")
        db.session.commit()


def test_search_finds_the_term_anywhere_in_the_address_in_any_case(app, admin_client, people):
    # Issue 19: "mueller" found none of the addresses containing it; the search was a prefix one.
    assert _addresses(admin_client.get("/admin/subscribers?q=ANNA")) == [
        "hanna@example.org",
        "anna.b@example.org",
        "anna@example.org",
    ]
    assert _addresses(admin_client.get("/admin/subscribers?q=  Anna@ ")) == ["hanna@example.org", "anna@example.org"]
    assert _addresses(admin_client.get("/admin/subscribers?q=example.net")) == ["bert@example.net"]
    assert _addresses(admin_client.get("/admin/subscribers?q=nobody")) == []
    # LIKE wildcards in the search are literal characters.
    assert _addresses(admin_client.get("/admin/subscribers?q=a_")) == ["a_c@example.org"]
    assert _addresses(admin_client.get("/admin/subscribers?q=%25")) == []
    assert _addresses(admin_client.get("/admin/subscribers?q=%5C")) == []


def test_the_status_filter_combines_with_the_search(app, admin_client, people):
    assert _addresses(admin_client.get("/admin/subscribers?status=pending")) == ["anna.b@example.org"]
    assert _addresses(admin_client.get("/admin/subscribers?status=confirmed&q=nna")) == [
        "hanna@example.org",
        "anna@example.org",
    ]
    assert len(_addresses(admin_client.get("/admin/subscribers?status=confirmed"))) == 3
    assert admin_client.get("/admin/subscribers?status=nonsense").status_code == 400


def test_pages_of_fifty_newest_first_with_stable_neighbours(app, admin_client):
    with app.app_context():
        for number in range(1, 121):
            add_subscriber(f"user{number:03d}@example.org")
        db.session.commit()
    first = admin_client.get("/admin/subscribers")
    html = first.get_data(as_text=True)
    assert "120" in re.search(r'id="result-count">([^<]*)<', html).group(1)
    assert _addresses(first) == [f"user{n:03d}@example.org" for n in range(120, 70, -1)]
    next_link = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert 'rel="prev"' not in html

    second = admin_client.get(next_link)
    assert _addresses(second) == [f"user{n:03d}@example.org" for n in range(70, 20, -1)]
    html = second.get_data(as_text=True)
    third = admin_client.get(re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&"))
    assert _addresses(third) == [f"user{n:03d}@example.org" for n in range(20, 0, -1)]
    assert 'rel="next"' not in third.get_data(as_text=True)

    back = re.search(r'rel="prev" href="([^"]+)"', third.get_data(as_text=True)).group(1).replace("&amp;", "&")
    assert _addresses(admin_client.get(back)) == _addresses(second)


def test_paging_keeps_the_search_and_filter(app, admin_client):
    with app.app_context():
        for number in range(60):
            add_subscriber(f"mia{number:02d}@example.org", source="fair")
            add_subscriber(f"xaver{number:02d}@example.org", source="fair")
        db.session.commit()
    html = admin_client.get("/admin/subscribers?q=MIA&status=confirmed&source=fair").get_data(as_text=True)
    link = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "q=MIA" in link and "status=confirmed" in link and "source=fair" in link
    rest = _addresses(admin_client.get(link))
    assert rest == [f"mia{n:02d}@example.org" for n in range(9, -1, -1)]


def test_a_page_reads_only_its_own_rows(app, admin_client):
    # Keyset pages: every statement that reads subscriber rows has a LIMIT, none an OFFSET.
    with app.app_context():
        for number in range(80):
            add_subscriber(f"user{number}@example.org")
        db.session.commit()
    statements: list[tuple[str, object]] = []
    with app.app_context():
        engine = db.engine

    def remember(_conn, _cursor, statement, parameters, *_args) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        html = admin_client.get("/admin/subscribers").get_data(as_text=True)
        link = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
        admin_client.get(link)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    reads = [
        (s, p)
        for s, p in statements
        if s.lstrip().upper().startswith("SELECT")
        and "FROM subscriber" in s
        and "count(" not in s.lower()
        and "min(" not in s.lower()
    ]
    # The first page: the newest ids (up to the count's limit, counted in the same pass), then
    # the rows of the first fifty by id; the next page: its rows after the cursor.
    assert len(reads) == 3
    for statement, parameters in reads:
        bounded = "LIMIT" in statement.upper() or " IN (" in statement.upper()
        assert bounded, statement
        if "OFFSET" in statement.upper():  # SQLite writes "LIMIT ? OFFSET ?" for any limit
            assert list(parameters)[-1] == 0
    assert reads[0][0].startswith("SELECT subscriber.id \nFROM")
    assert "subscriber.id < " in reads[2][0]  # the second page starts after the first one's last id


def test_the_search_has_a_trigram_index_on_postgresql(app):
    # Fast at 150k rows (bench/admin_search.py, where the plans use it): PostgreSQL answers
    # "anywhere in the address" from a pg_trgm GIN index; SQLite scans.
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            pytest.skip("SQLite has no trigram index; the search scans there")
        definition = db.session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_subscriber_email_trgm'")
        ).scalar_one()
        assert "USING gin (email gin_trgm_ops)" in definition
        # and LIKE '%term%' can use it: with scans and the unique index out of the way (both
        # undone by the rollback), the plan names it
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        db.session.execute(text("ALTER TABLE subscriber DROP CONSTRAINT uq_subscriber_email"))
        conditions = subscriber_search._conditions("mueller", None, None)
        query = db.select(db.literal(1)).select_from(subscriber_search.Subscriber).where(*conditions)
        compiled = str(query.compile(db.engine, compile_kwargs={"literal_binds": True})).replace("%%", "%")
        plan = " ".join(row[0] for row in db.session.execute(text(f"EXPLAIN {compiled}")))
        assert "ix_subscriber_email_trgm" in plan, plan
        db.session.rollback()


def test_a_subscriber_page_shows_every_consent_event_with_its_evidence(app, admin_client, visitor, outbox, clock):
    subscriber_id = sign_up_and_confirm(app, visitor, outbox, "anna@example.org")
    page = admin_client.get(f"/admin/subscribers/{subscriber_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with app.app_context():
        events = consent.history(subscribers.find_by_email("anna@example.org"))
        assert [event.type for event in events] == [ConsentEventType.REQUESTED, ConsentEventType.CONFIRMED]
        text_version = events[0].consent_text
    assert html.count('class="event event-') == 2
    # The test clock stands at 2026-03-02 08:00 UTC, which is 09:00 in Berlin (CET, UTC+1).
    assert html.count("2026-03-02 08:00:00 UTC") == 2
    assert "9:00:00" in html
    assert "sign-up form" in html and "link in the mail" in html
    assert html.count("127.0.0.1") == 2
    assert html.count("Mozilla/5.0 (pytest)") == 2
    assert text_version.sha256 in html
    assert " ".join(text_version.text.split())[:80] in " ".join(html.split())
    # The confirmation mail is listed with its outcome.
    assert "confirmation request" in html
    assert "badge-sent" in html


def test_the_mails_list_shows_failures_with_the_reply(app, admin_client):
    with app.app_context():
        subscriber = add_subscriber("bounce@example.org", SubscriberStatus.PENDING)
        delivery = queue.enqueue(subscribers.MailKind.CONFIRM, subscriber, context={})
        delivery.status = DeliveryStatus.FAILED
        delivery.attempts = 1
        delivery.last_reply = "550 5.1.1 <bounce@example.org>: no such user"
        db.session.commit()
        subscriber_id = subscriber.id
    html = admin_client.get(f"/admin/subscribers/{subscriber_id}").get_data(as_text=True)
    assert "550 5.1.1 &lt;bounce@example.org&gt;: no such user" in html
    assert "badge-failed" in html


def test_evidence_downloads_as_the_json_of_spec_7(app, admin_client, visitor, outbox):
    subscriber_id = sign_up_and_confirm(app, visitor, outbox, "anna@example.org")
    response = admin_client.get(f"/admin/subscribers/{subscriber_id}/evidence.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.get_data(as_text=True))
    with app.app_context():
        assert data == consent.evidence(subscribers.find_by_email("anna@example.org"))
    assert data["email"] == "anna@example.org"
    assert data["status"] == "confirmed"
    assert [event["type"] for event in data["events"]] == ["requested", "confirmed"]


def test_withdrawal_on_behalf_asks_first_then_records_channel_admin(app, admin_client, visitor, outbox):
    subscriber_id = sign_up_and_confirm(app, visitor, outbox, "anna@example.org")
    with app.app_context():  # a mail still waiting for the address is cancelled with the withdrawal
        waiting = outbox_module_enqueue(subscriber_id)

    question = admin_client.get(f"/admin/subscribers/{subscriber_id}/withdraw")
    assert question.status_code == 200
    assert 'method="post"' in question.get_data(as_text=True)
    with app.app_context():
        assert subscribers.find_by_email("anna@example.org").status is SubscriberStatus.CONFIRMED

    response = post(admin_client, f"/admin/subscribers/{subscriber_id}/withdraw")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/subscribers/{subscriber_id}"
    with app.app_context():
        subscriber = subscribers.find_by_email("anna@example.org")
        assert subscriber.status is SubscriberStatus.WITHDRAWN
        last = consent.history(subscriber)[-1]
        assert last.type is ConsentEventType.WITHDRAWN
        assert last.channel is ConsentChannel.ADMIN
        assert db.session.get(Delivery, waiting).status is DeliveryStatus.CANCELLED
    evidence = json.loads(admin_client.get(f"/admin/subscribers/{subscriber_id}/evidence.json").get_data(as_text=True))
    assert evidence["events"][-1]["type"] == "withdrawn"
    assert evidence["events"][-1]["channel"] == "admin"

    # Doing it again records nothing more, and the page no longer offers it.
    post(admin_client, f"/admin/subscribers/{subscriber_id}/withdraw")
    with app.app_context():
        assert len(consent.history(subscribers.find_by_email("anna@example.org"))) == 3
    page = admin_client.get(f"/admin/subscribers/{subscriber_id}").get_data(as_text=True)
    assert f"/admin/subscribers/{subscriber_id}/withdraw" not in page


def outbox_module_enqueue(subscriber_id: int) -> int:
    from newsletter.models import MailKind, Subscriber

    delivery = queue.enqueue(MailKind.DIGEST, db.session.get(Subscriber, subscriber_id))
    db.session.commit()
    return delivery.id


def test_unknown_subscribers_are_a_404_in_the_admin_layout(app, admin_client):
    response = admin_client.get("/admin/subscribers/4711")
    assert response.status_code == 404
    assert "admin-bar" in response.get_data(as_text=True)
    assert admin_client.get("/admin/subscribers/4711/evidence.json").status_code == 404
    assert post(admin_client, "/admin/subscribers/4711/withdraw").status_code == 404


def test_erased_subscribers_are_listed_without_address(app, admin_client):
    with app.app_context():
        add_subscriber(None, SubscriberStatus.ERASED)
        db.session.commit()
    page = admin_client.get("/admin/subscribers?status=erased", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "(erased)" in page.get_data(as_text=True)


def test_every_state_shown_in_the_admin_area_has_a_label():
    # A status, channel or mail kind added later must get a (translatable) name here too.
    from newsletter.labels import LABELS

    for enum_class, labels in LABELS.items():
        assert set(labels) == set(enum_class), enum_class.__name__


def test_printable_evidence_page_shows_every_event_and_the_doi_mail(app, admin_client, visitor, outbox):
    subscriber_id = sign_up_and_confirm(app, visitor, outbox, "print@example.org")
    detail = admin_client.get(f"/admin/subscribers/{subscriber_id}").get_data(as_text=True)
    assert f"/admin/subscribers/{subscriber_id}/evidence" in detail
    page = admin_client.get(f"/admin/subscribers/{subscriber_id}/evidence")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "print@example.org" in html and "@media print" in html
    assert "127.0.0.1" in html and "Mozilla/5.0 (pytest)" in html
    assert "/confirm/" in html  # the confirmation mail as sent
    assert admin_client.get("/admin/subscribers/999999/evidence").status_code == 404


def test_the_list_filters_by_source_and_shows_when_imported_rows_consented(
    app, admin_client, runner, tmp_path, monkeypatch
):
    # Issue 19: imported rows showed the import's time as their sign-up, not their consent.
    path = tmp_path / "list.csv"
    path.write_text(
        "email,consented_at,confirmed_at,ip,source\n"
        "mueller.anna@example.org,2019-05-04T10:00:00+00:00,2019-05-04T10:05:00+00:00,192.0.2.1,messe\n"
        "karl.mueller@example.net,2020-07-08T09:00:00+00:00,2020-07-08T09:30:00+00:00,192.0.2.2,shop\n",
        encoding="utf-8",
    )
    assert runner.invoke(args=["import-subscribers", str(path)]).exit_code == 0
    with app.app_context():
        add_subscriber("mueller@example.com")
        db.session.commit()

    page = admin_client.get("/admin/subscribers?q=mueller", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert _addresses(page) == ["mueller@example.com", "karl.mueller@example.net", "mueller.anna@example.org"]
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)[1:]
    karl = next(row for row in rows if "karl.mueller" in row)
    consent_cell = re.search(r'data-label="Consent given">(.*?)</td>', karl, re.S).group(1)
    assert "7/8/20," in consent_cell and "imported" in consent_cell
    assert "/26," not in consent_cell  # not the day of the import (2026)
    assert '<option value="messe">messe</option>' in html and '<option value="shop">shop</option>' in html

    assert _addresses(admin_client.get("/admin/subscribers?q=mueller&source=shop")) == ["karl.mueller@example.net"]
    assert _addresses(admin_client.get("/admin/subscribers?source=messe")) == ["mueller.anna@example.org"]
    assert admin_client.get("/admin/subscribers?source=nowhere").status_code == 400

    # A common term counts its matches only so far.
    monkeypatch.setattr(subscriber_search, "COUNT_LIMIT", 2)
    capped = admin_client.get("/admin/subscribers?q=mueller", headers={"Accept-Language": "en"})
    assert "More than 2 subscribers match." in capped.get_data(as_text=True)
    assert len(_addresses(capped)) == 3

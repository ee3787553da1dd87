"""The admin API (SPEC §9, issue 18 points 1, 2): bearer tokens of two scopes, the resources
through the same services as the pages and commands, cursor pages, ETags, per-token limits,
one JSON error shape."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from newsletter import subscribers
from newsletter.extensions import db
from newsletter.models import ApiToken, ConsentChannel, ConsentEvent, Delivery, MailKind, SubscriberStatus
from tests.support import factories
from tests.support.api import ApiClient, bearer, create_token
from tests.support.flows import drain
from tests.support.limits import limit

ERROR_KEYS = {"code", "status", "message"}


@pytest.fixture
def writer(app, client) -> ApiClient:
    return ApiClient(client, create_token(app, "crm", "write"))


@pytest.fixture
def reader(app, client) -> ApiClient:
    return ApiClient(client, create_token(app, "reporting", "read"))


def _events(app, email: str) -> list[ConsentEvent]:
    with app.app_context():
        subscriber = subscribers.find_by_email(email)
        return list(db.session.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id)))


def test_tokens_are_stored_hashed_shown_once_and_revocable_from_the_command_line(app, runner, client):
    created = runner.invoke(args=["create-api-token", "shop", "--scope", "write"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("nl_") and len(token) > 40
    with app.app_context():
        stored = db.session.scalar(select(ApiToken).where(ApiToken.name == "shop"))
        assert stored.scope == "write" and token not in (stored.token_hash, stored.name)
    assert client.get("/api/v1/subscribers", headers=bearer(token)).status_code == 200
    again = runner.invoke(args=["create-api-token", "shop"])
    assert again.exit_code != 0 and "exists already" in again.output
    assert runner.invoke(args=["create-api-token", "x" * 65]).exit_code != 0
    revoked = runner.invoke(args=["revoke-api-token", "shop"])
    assert revoked.exit_code == 0, revoked.output
    answer = client.get("/api/v1/subscribers", headers=bearer(token))
    assert answer.status_code == 401 and ERROR_KEYS <= set(answer.get_json())
    assert runner.invoke(args=["revoke-api-token", "shop"]).exit_code != 0


def test_without_a_valid_token_401_with_a_read_token_only_reads_403(app, client, reader):
    for headers in ({}, bearer("nl_wrong"), {"Authorization": "Basic dXNlcjpwYXNz"}, bearer("")):
        answer = client.get("/api/v1/subscribers", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.get_json()["code"] == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/v1/subscribers", json={"email": "a@example.org"}).status_code == 401
    for path in ("/api/v1/subscribers", "/api/v1/articles", "/api/v1/digests"):
        assert reader.get(path).status_code == 200, path
    refused = reader.post("/api/v1/subscribers", json={"email": "ann@example.org"})
    assert refused.status_code == 403 and "read" in refused.get_json()["message"]
    assert reader.delete("/api/v1/subscribers/ann@example.org").status_code == 403
    with app.app_context():
        assert subscribers.find_by_email("ann@example.org") is None


def test_last_use_is_written_at_most_once_a_minute(app, clock, reader):
    def last_used():
        with app.app_context():
            return db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "reporting"))

    assert last_used() is None
    reader.get("/api/v1/digests")
    first = last_used()
    assert first == clock.now()
    clock.advance(seconds=30)
    reader.get("/api/v1/digests")
    assert last_used() == first
    clock.advance(seconds=31)
    reader.get("/api/v1/digests")
    assert last_used() == clock.now()


@pytest.fixture
def three_per_token(config) -> dict:
    return limit(config, API_TOKEN=3)


def test_each_token_has_its_own_rate_limit(three_per_token, app, client):
    first, second = create_token(app, "one"), create_token(app, "two")
    answers = [client.get("/api/v1/digests", headers=bearer(first)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = client.get("/api/v1/digests", headers=bearer(first))
    assert refused.get_json()["code"] == 429
    assert client.get("/api/v1/digests", headers=bearer(second)).status_code == 200


def test_a_subscriber_added_gets_the_doi_mail_evidence_with_channel_api_and_the_cap(app, writer):
    app.config["DOI_MAX_PER_ADDRESS"] = 1
    answer = writer.post("/api/v1/subscribers", json={"email": " Ann@Example.org ", "language": "en"})
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert (body["email"], body["status"], body["outcome"], body["language"]) == (
        "ann@example.org", "pending", "pending", "en"
    )
    [event] = _events(app, "ann@example.org")
    assert (event.type, event.channel, event.detail) == ("requested", ConsentChannel.API, {"source": "crm"})
    assert writer.post("/api/v1/subscribers", json={"email": "ann@example.org"}).status_code == 202
    with app.app_context():  # the DOI cap holds for the API as for the form: one mail
        kinds = db.session.scalars(select(Delivery.kind)).all()
        assert kinds == [MailKind.CONFIRM]
    bad = writer.post("/api/v1/subscribers", json={"email": "not an address"})
    assert bad.status_code == 422 and "email" in bad.get_json()["errors"]
    assert writer.post("/api/v1/subscribers", json={"email": "b@example.org", "language": "fr"}).status_code == 422
    assert writer.post("/api/v1/subscribers", data="{", content_type="application/json").status_code in (400, 422)


def test_a_subscriber_added_with_evidence_is_recorded_like_a_csv_row(app, writer):
    evidence = {"consented_at": "2026-03-01T10:00", "confirmed_at": "2026-03-01T10:05", "ip": "192.0.2.7"}
    answer = writer.post("/api/v1/subscribers", json={"email": "ben@example.org", "consent": evidence})
    assert answer.status_code == 201, answer.get_json()
    assert (answer.get_json()["status"], answer.get_json()["outcome"]) == ("confirmed", "confirmed")
    [event] = _events(app, "ben@example.org")
    assert (event.type, event.channel, event.ip) == ("imported", ConsentChannel.IMPORT, "192.0.2.7")
    assert event.detail["source"] == "crm" and event.detail["consented_at"].startswith("2026-03-01T09:00")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0  # no DOI mail
    again = writer.post("/api/v1/subscribers", json={"email": "ben@example.org", "consent": evidence})
    assert (again.status_code, again.get_json()["outcome"]) == (200, "unchanged")
    backwards = {"consented_at": "2026-03-01T10:05", "confirmed_at": "2026-03-01T10:00"}
    refused = writer.post("/api/v1/subscribers", json={"email": "cy@example.org", "consent": backwards})
    assert refused.status_code == 422 and "before" in refused.get_json()["errors"]["consent"][0]
    missing = writer.post("/api/v1/subscribers", json={"email": "cy@example.org", "consent": {"ip": "x"}})
    assert missing.status_code == 422
    with app.app_context():
        assert subscribers.find_by_email("cy@example.org") is None


def test_withdraw_and_erase_as_the_admin_does(app, writer, reader):
    with app.app_context():
        factories.add_subscriber("dora@example.org")
        factories.add_subscriber("eve@example.org")
        db.session.commit()
    withdrawn = writer.post("/api/v1/subscribers/Dora@example.org/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    assert writer.post("/api/v1/subscribers/dora@example.org/withdraw").status_code == 200  # again: no change
    assert [(e.type, e.channel, e.detail) for e in _events(app, "dora@example.org")] == [
        ("withdrawn", ConsentChannel.API, {"source": "crm"})
    ]
    assert writer.delete("/api/v1/subscribers/eve@example.org").status_code == 204
    with app.app_context():
        assert subscribers.find_by_email("eve@example.org") is None
    for answer in (
        writer.delete("/api/v1/subscribers/eve@example.org"),
        writer.post("/api/v1/subscribers/nobody@example.org/withdraw"),
        reader.get("/api/v1/subscribers/eve@example.org"),
        reader.get("/api/v1/subscribers/not-an-address"),
    ):
        assert answer.status_code == 404 and answer.get_json()["code"] == 404


def test_the_export_is_the_one_of_export_subscriber_with_an_etag(app, runner, reader):
    with app.app_context():
        factories.add_subscriber("fay@example.org")
        db.session.commit()
    answer = reader.get("/api/v1/subscribers/fay@example.org")
    assert answer.status_code == 200
    printed = runner.invoke(args=["export-subscriber", "fay@example.org"])
    assert answer.get_json() == json.loads(printed.output)
    etag = answer.headers["ETag"]
    assert reader.get("/api/v1/subscribers/fay@example.org", headers={"If-None-Match": etag}).status_code == 304


def test_lists_come_in_cursor_pages_newest_first_and_filter_by_status(app, reader):
    with app.app_context():
        for number in range(5):
            factories.add_subscriber(f"r{number}@example.org")
        factories.add_subscriber("p@example.org", SubscriberStatus.PENDING)
        db.session.commit()
    seen, cursor = [], None
    while True:
        query = {"limit": 2, "status": "confirmed", **({"cursor": cursor} if cursor else {})}
        page = reader.get("/api/v1/subscribers", query_string=query).get_json()
        seen += [item["email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"r{number}@example.org" for number in reversed(range(5))]
    for bad in ({"cursor": "garbage!"}, {"cursor": "MA"}, {"limit": 0}, {"limit": 501}, {"status": "gone"}):
        answer = reader.get("/api/v1/subscribers", query_string=bad)
        assert answer.status_code == 422 and answer.get_json()["errors"], bad


def test_articles_are_added_as_add_article_does_and_updated(app, writer, reader):
    new = {"title": "Neue Preise", "url": "https://shop.example.org/a/1", "summary": "Kurz.",
           "published_at": "2026-11-29T09:00"}
    added = writer.post("/api/v1/articles", json=new)
    assert added.status_code == 201 and added.get_json()["outcome"] == "created"
    article = added.get_json()
    assert article["published_at"].startswith("2026-11-29T08:00")  # TIMEZONE Europe/Berlin
    again = writer.post("/api/v1/articles", json={**new, "title": "Neue Preise!"})
    assert (again.status_code, again.get_json()["outcome"], again.get_json()["id"]) == (200, "updated", article["id"])
    put = writer.put(f"/api/v1/articles/{article['id']}", json={**new, "title": "Other"})
    assert put.status_code == 200 and put.get_json()["title"] == "Other"
    assert writer.put("/api/v1/articles/999999", json=new).status_code == 404
    bad = writer.post("/api/v1/articles", json={**new, "url": "javascript:alert(1)"})
    assert bad.status_code == 422 and "url" in bad.get_json()["errors"]
    assert writer.post("/api/v1/articles", json={"title": "x"}).status_code == 422
    assert [item["id"] for item in reader.get("/api/v1/articles").get_json()["items"]] == [article["id"]]


def test_post_digests_is_send_now_and_the_digest_shows_its_counts(app, writer, reader, outbox):
    assert writer.post("/api/v1/digests", json={}).status_code == 409  # nothing waiting
    with app.app_context():
        factories.add_subscriber("gus@example.org")
        factories.add_article("Heute")
        db.session.commit()
    assert writer.post("/api/v1/digests", json={"subject": "a\nb"}).status_code == 422
    built = writer.post("/api/v1/digests", json={"subject": "Unsere Woche", "intro": "Hallo"})
    assert built.status_code == 201, built.get_json()
    digest = built.get_json()
    assert (digest["subject"], digest["recipient_count"], digest["counts"]["queued"]) == ("Unsere Woche", 1, 1)
    assert outbox == []  # queued only: the worker sends
    drain(app)
    detail = reader.get(f"/api/v1/digests/{digest['id']}")
    assert detail.get_json()["counts"]["sent"] == 1 and len(outbox) == 1
    unchanged = reader.get(f"/api/v1/digests/{digest['id']}", headers={"If-None-Match": detail.headers["ETag"]})
    assert unchanged.status_code == 304
    assert [item["id"] for item in reader.get("/api/v1/digests").get_json()["items"]] == [digest["id"]]
    assert reader.get("/api/v1/digests/424242").status_code == 404


def test_the_openapi_document_describes_every_endpoint_and_the_docs_page_shows_them(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    expected = {
        ("/api/v1/subscribers", "get"), ("/api/v1/subscribers", "post"), ("/api/v1/subscribers/{email}", "get"),
        ("/api/v1/subscribers/{email}", "delete"), ("/api/v1/subscribers/{email}/withdraw", "post"),
        ("/api/v1/articles", "get"), ("/api/v1/articles", "post"), ("/api/v1/articles/{article_id}", "put"),
        ("/api/v1/digests", "get"), ("/api/v1/digests", "post"), ("/api/v1/digests/{digest_id}", "get"),
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert expected <= documented
    assert spec["paths"]["/api/v1/digests"]["get"]["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "script-src" not in page.headers.get("Content-Security-Policy", "x")[:0]
    html = page.get_data(as_text=True)
    assert "POST /api/v1/digests" in html and "SubscriberPage" in html and "<script" not in html

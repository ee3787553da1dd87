"""The public sign-up API (SPEC §8, issue 14 point 4): the current consent wording, and a
sign-up with it from the pages of EMBED_ORIGINS (CORS, the preflight included), the same
limits, caps, honeypot and answers as the hosted form; one JSON shape for every error under
/api/ (flask-smorest's validation, routing, the rate limit)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from newsletter import consent, subscribers
from newsletter.extensions import db
from newsletter.models import AddressRequest, ConsentEvent, ConsentText, Delivery
from tests.support.embedding import (
    ARTICLE,
    BROWSER,
    PUBLISHER,
    STRANGER,
    allow_publisher,
    api_sign_up,
    consent_text,
)
from tests.support.limits import limit
from tests.support.visitor import Visitor, carry_out_requests

ERROR_KEYS = {"code", "status", "message"}


@pytest.fixture
def config(config):
    return allow_publisher(config)


def _waiting(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AddressRequest))


def test_the_consent_text_is_the_current_wording_with_its_version_and_button(app, client):
    german = consent_text(client, "de")
    english = consent_text(client, "en")
    assert german["button"] == "Abschicken" and english["button"] == "Subscribe"
    assert german["text"].startswith("Mit einem Klick auf „Abschicken“")
    assert english["language"] == "en"
    with app.app_context():  # the version the widget shows is the one stored: evidence names it
        for wording in (german, english):
            stored = consent.find_text_version(wording["version"])
            assert (stored.text, stored.language) == (wording["text"], wording["language"])
    response = client.get("/api/v1/consent-text?lang=fr", headers={"Origin": PUBLISHER})
    assert response.status_code == 422
    assert "lang" in response.get_json()["errors"]


def test_a_sign_up_through_the_api_records_channel_api_the_page_and_the_evidence(app, client):
    response = api_sign_up(client, "Reader@Example.org", source_url=ARTICLE + "#signup")
    assert response.status_code == 202
    assert response.get_json()["status"] == "received"
    assert response.headers["Access-Control-Allow-Origin"] == PUBLISHER
    carry_out_requests(app)
    with app.app_context():
        (event,) = db.session.execute(select(ConsentEvent)).scalars()
        assert event.channel == "api"
        assert event.detail == {"source_url": ARTICLE}  # without the fragment
        assert event.user_agent == BROWSER["User-Agent"] and event.ip == "127.0.0.1"
        assert event.consent_text.sha256 == consent_text(client)["version"]
        assert consent.event_as_dict(event)["detail"]["source_url"] == ARTICLE
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 1


def test_a_page_address_on_another_origin_is_not_kept(app, client):
    for url in (STRANGER + "/page", "javascript:alert(1)", PUBLISHER.replace("https", "http") + "/x"):
        assert api_sign_up(client, "reader@example.org", source_url=url).status_code == 202
    carry_out_requests(app)
    with app.app_context():
        assert [event.detail for event in db.session.execute(select(ConsentEvent)).scalars()] == [None, None]


def test_every_address_gets_the_same_answer_and_the_doi_cap_holds(app, client, outbox):
    Visitor(client).sign_up("known@example.org")
    answers = {api_sign_up(client, email).get_data() for email in ("known@example.org", "new@example.org")}
    assert len(answers) == 1
    for _ in range(3):
        assert api_sign_up(client, "often@example.org").status_code == 202
    carry_out_requests(app)
    with app.app_context():
        often = subscribers.find_by_email("often@example.org")
        mails = select(func.count()).select_from(Delivery).where(Delivery.subscriber_id == often.id)
        assert db.session.scalar(mails) == app.config["DOI_MAX_PER_ADDRESS"]


def test_a_filled_honeypot_gets_the_same_answer_and_nothing_is_stored(app, client):
    honest = api_sign_up(client, "reader@example.org")
    bot = api_sign_up(client, "bot@example.org", website="https://spam.example")
    assert (bot.status_code, bot.get_data()) == (honest.status_code, honest.get_data())
    assert _waiting(app) == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"consent_version": "0" * 64}, 422, "email"),
        ({"email": "not an address", "consent_version": "0" * 64}, 422, "email"),
        ({"email": "a" * 250 + "@example.org", "consent_version": "0" * 64}, 422, "email"),
        ({"email": "reader@example.org"}, 422, "consent_version"),
        ({"email": "reader@example.org", "consent_version": "short"}, 422, "consent_version"),
        ({"email": 7, "consent_version": "0" * 64}, 422, "email"),
        ({"email": "reader@example.org", "consent_version": "0" * 64, "language": "fr"}, 422, "language"),
        ({"email": "reader@example.org", "consent_version": "0" * 64, "source_url": "x" * 3000}, 422, "source_url"),
        ('{"email": ', 400, "body"),
        ("[1, 2]", 422, "_schema"),
    ],
)
def test_bad_input_is_a_json_error_naming_the_field(app, client, body, status, field):
    headers = {"Origin": PUBLISHER, "Content-Type": "application/json"}
    if isinstance(body, dict):
        response = client.post("/api/v1/subscriptions", json=body, headers={"Origin": PUBLISHER})
    else:
        response = client.post("/api/v1/subscriptions", data=body, headers=headers)
    assert response.status_code == status
    error = response.get_json()
    assert ERROR_KEYS <= set(error) and error["code"] == status
    assert field in error["errors"], error
    assert response.headers["Access-Control-Allow-Origin"] == PUBLISHER  # the widget can read it
    assert _waiting(app) == 0


def test_an_outdated_consent_version_is_409_with_the_current_wording(app, client):
    current = consent_text(client, "en")
    app.config["CONSENT_TEXT"] = {"en": "New wording: by clicking “{button}” I agree."}
    response = api_sign_up(client, "reader@example.org", version=current["version"], language="en")
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == 409 and body["consent"]["text"] == "New wording: by clicking “Subscribe” I agree."
    assert body["consent"]["version"] != current["version"]
    assert _waiting(app) == 0
    again = api_sign_up(client, "reader@example.org", version=body["consent"]["version"], language="en")
    assert again.status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": STRANGER},
        {"Origin": "http://www.shop.example.de"},  # another scheme
        {"Origin": PUBLISHER + ":8443"},  # another port
        {"Origin": "https://shop.example.de"},  # another host
        {"Origin": "null"},  # a sandboxed frame
        {"Referer": STRANGER + "/page"},  # no Origin: the Referer's decides
    ],
    ids=["stranger", "scheme", "port", "host", "null", "referer"],
)
def test_other_origins_get_403_and_nothing_is_stored_or_mailed(app, client, headers):
    version = consent_text(client)["version"]
    response = client.post(
        "/api/v1/subscriptions", json={"email": "victim@example.org", "consent_version": version}, headers=headers
    )
    assert response.status_code == 403
    assert set(response.get_json()) >= ERROR_KEYS
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/api/v1/subscriptions", headers={**headers, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers
    carry_out_requests(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_the_preflight_answers_allowed_origins_only_whatever_the_case_of_the_host(app, client):
    origin = "https://WWW.Shop.Example.DE"
    preflight = client.options(
        "/api/v1/subscriptions",
        headers={
            "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    assert "Origin" in preflight.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers  # no cookies, ever
    # Another program (no Origin, no Referer) may use the API: no CORS headers, channel api.
    assert api_sign_up(client, "reader@example.org", origin=None).status_code == 202


def test_every_error_under_api_has_one_json_shape(app, client, config):
    for response in (
        client.get("/api/v1/nothing-here"),
        client.delete("/api/v1/subscriptions"),
        client.post("/api/v1/subscriptions", json={}),
        client.get("/api/v1/consent-text?lang=%00"),
    ):
        assert response.mimetype == "application/json", response.get_data(as_text=True)
        assert ERROR_KEYS <= set(response.get_json()), response.get_json()
        assert response.get_json()["code"] == response.status_code
    assert client.delete("/api/v1/subscriptions").headers["Allow"]
    page = client.get("/no-such-page")  # the pages keep their HTML error pages
    assert page.status_code == 404 and page.mimetype == "text/html"


@pytest.fixture
def two_sign_ups(config):
    return limit(config, SUBSCRIBE=2)


def test_the_api_and_the_forms_share_one_sign_up_limit(two_sign_ups, app, client):
    assert Visitor(client).sign_up("one@example.org").status_code == 200
    assert api_sign_up(client, "two@example.org").status_code == 202
    refused = api_sign_up(client, "three@example.org")
    assert refused.status_code == 429
    assert ERROR_KEYS <= set(refused.get_json())
    assert refused.headers["Access-Control-Allow-Origin"] == PUBLISHER


def test_the_openapi_description_is_generated_from_the_code(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/consent-text", "/api/v1/subscriptions"} <= set(spec["paths"])
    post = spec["paths"]["/api/v1/subscriptions"]["post"]
    assert {"202", "409", "422"} <= set(post["responses"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ConsentText)) == 0

"""The sign-up on the publisher's own pages without our script (SPEC §8, issue 14 points 2, 3,
5): the plain HTML form posting to /subscribe from an allowed origin needs no CSRF token (its
Origin, else its Referer, is checked: 403 and nothing stored for any other site); the iframe
page /embed/subscribe may be framed by EMBED_ORIGINS only and needs no cookie; both record the
channel ``embed`` and the page the reader was on, which the admin's history and the printable
evidence show."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from newsletter import create_app, subscribers
from newsletter.evidence_report import render_evidence_page
from newsletter.extensions import db
from newsletter.models import AddressRequest, ConsentEvent
from newsletter.settings import ConfigError
from tests.support.embedding import (
    ARTICLE,
    BROWSER,
    PUBLISHER,
    STRANGER,
    allow_publisher,
    consent_text,
    plain_form_post,
)
from tests.support.visitor import carry_out_requests, hidden_fields


@pytest.fixture
def config(config):
    return allow_publisher(config)


def _requests(app) -> list[AddressRequest]:
    with app.app_context():
        requests = list(db.session.execute(select(AddressRequest).order_by(AddressRequest.id)).scalars())
        db.session.expunge_all()
        return requests


def _requested_events(app) -> list[ConsentEvent]:
    carry_out_requests(app)
    with app.app_context():
        events = list(db.session.execute(select(ConsentEvent).order_by(ConsentEvent.id)).scalars())
        db.session.expunge_all()
        return events


def test_the_plain_form_signs_up_from_an_allowed_origin_without_a_csrf_token(app, client):
    response = plain_form_post(client, "reader@example.org", referer=ARTICLE + "?utm_source=x#form")
    assert response.status_code == 200
    assert "Bitte sehen Sie in Ihr Postfach" in response.get_data(as_text=True)
    (event,) = _requested_events(app)
    assert event.channel == "embed"
    assert event.detail == {"source_url": ARTICLE + "?utm_source=x"}
    assert event.user_agent == BROWSER["User-Agent"]
    # Without an Origin header the Referer's origin decides.
    assert plain_form_post(client, "second@example.org", origin=None, referer=ARTICLE).status_code == 200
    assert [r.channel for r in _requests(app)] == ["embed"]


def test_the_plain_form_sends_the_reader_on_to_a_thank_you_page_on_an_allowed_origin_only(app, client):
    thanks = PUBLISHER + "/newsletter/thanks"
    response = plain_form_post(client, "reader@example.org", redirect=thanks)
    assert (response.status_code, response.headers["Location"]) == (303, thanks)
    stranger = plain_form_post(client, "other@example.org", redirect=STRANGER + "/phish")
    assert stranger.status_code == 200 and "Location" not in stranger.headers
    assert len(_requests(app)) == 2


@pytest.mark.parametrize(
    ("origin", "referer"),
    [
        (STRANGER, None), (None, STRANGER + "/page"), ("null", None), (STRANGER, ARTICLE),
        ("https://www.shop.example.de.evil.net", None),
    ],
    ids=["stranger", "stranger-referer", "null", "origin-decides", "suffix"],
)
def test_a_page_of_another_site_gets_403_and_nothing_is_stored(app, client, origin, referer):
    response = plain_form_post(client, "victim@example.org", origin=origin, referer=referer)
    assert response.status_code == 403
    assert "Hier nicht erlaubt" in response.get_data(as_text=True)
    assert _requests(app) == []


def test_our_own_form_still_needs_its_csrf_token(app, client):
    version = consent_text(client)["version"]
    # No origin, the request's own, BASE_URL's (behind a proxy that does not say it took https).
    for headers in ({}, {"Origin": "http://localhost"}, {"Origin": app.config["BASE_URL"]}):
        data = {"email": "a@example.org", "consent_version": version}
        response = client.post("/subscribe", data=data, headers=headers)
        assert response.status_code == 400
    assert _requests(app) == []


def test_an_outdated_wording_shows_our_form_again_with_the_current_one(app, client):
    old = consent_text(client)["version"]
    app.config["CONSENT_TEXT"] = {"de": "Neuer Wortlaut: mit „{button}“ willige ich ein."}
    response = client.post(
        "/subscribe", data={"email": "reader@example.org", "consent_version": old}, headers={"Origin": PUBLISHER}
    )
    assert response.status_code == 409
    page = html.unescape(response.get_data(as_text=True))
    assert "Neuer Wortlaut: mit „Abschicken“ willige ich ein." in page
    assert 'value="reader@example.org"' in page
    fields = hidden_fields(response.get_data(as_text=True))
    assert "csrf_token" in fields  # now on our own page: our form, with its token
    assert _requests(app) == []
    again = client.post("/subscribe", data={**fields, "email": "reader@example.org"}, headers={"Origin": "http://localhost"})
    assert again.status_code == 200
    invalid = plain_form_post(client, "not an address")
    assert invalid.status_code == 422 and 'aria-invalid="true"' in invalid.get_data(as_text=True)


def test_the_iframe_page_is_framed_by_embed_origins_only_and_sets_no_cookie(app, client):
    response = client.get("/embed/subscribe?lang=en&source=" + ARTICLE, headers={"Referer": PUBLISHER + "/"})
    assert response.status_code == 200
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert csp["frame-ancestors"] == PUBLISHER
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page and ">Subscribe</button>" in page
    assert "<header" not in page and "<footer" not in page  # the form alone
    assert hidden_fields(page)["source_url"] == ARTICLE
    assert "csrf_token" not in hidden_fields(page)
    assert "frame-ancestors 'none'" in client.get("/subscribe").headers["Content-Security-Policy"]


def test_the_iframe_signs_up_from_its_own_page_and_the_evidence_shows_embed_and_the_page(app, client):
    page = client.get("/embed/subscribe?source=" + ARTICLE, headers=BROWSER)
    fields = {**hidden_fields(page.get_data(as_text=True)), "email": "reader@example.org", "website": ""}
    # Another site cannot post into it, nor can a request that names no origin.
    for headers in ({"Origin": STRANGER}, {}):
        assert client.post("/embed/subscribe", data=fields, headers={**BROWSER, **headers}).status_code == 403
    done = client.post("/embed/subscribe", data=fields, headers={**BROWSER, "Origin": "http://localhost"})
    assert done.status_code == 200
    assert "Bitte sehen Sie in Ihr Postfach" in done.get_data(as_text=True)
    assert "Set-Cookie" not in done.headers
    (event,) = _requested_events(app)
    assert (event.channel, event.detail) == ("embed", {"source_url": ARTICLE})
    with app.test_request_context(headers={"Accept-Language": "en"}):
        subscriber = subscribers.find_by_email("reader@example.org")
        printed = html.unescape(render_evidence_page(subscriber))
    assert "sign-up on the publisher's page" in printed and ARTICLE in printed


def test_the_admin_history_names_the_channel_and_the_page(app, client, admin_client):
    client.post(
        "/subscribe",
        data={"email": "reader@example.org", "consent_version": consent_text(client)["version"]},
        headers={"Origin": PUBLISHER, "Referer": ARTICLE},
    )
    carry_out_requests(app)
    with app.app_context():
        subscriber_id = subscribers.find_by_email("reader@example.org").id
    page = admin_client.get(f"/admin/subscribers/{subscriber_id}", headers={"Accept-Language": "de"})
    text = html.unescape(page.get_data(as_text=True))
    assert "Anmeldung auf der Seite des Herausgebers" in text and ARTICLE in text


def test_the_widget_is_cached_and_revalidated_by_its_content_hash(app, client):
    script = client.get("/embed.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert script.headers["Cache-Control"] == "public, max-age=86400"
    etag = script.headers["ETag"]
    assert client.get("/embed.js", headers={"If-None-Match": etag}).status_code == 304
    body = script.get_data(as_text=True)
    assert "E-Mail-Adresse" in body and "Email address" in body  # both languages, one file
    style = client.get("/embed.css")
    assert style.mimetype == "text/css" and style.headers["ETag"] != etag
    assert client.get("/embed.css", headers={"If-None-Match": style.headers["ETag"]}).status_code == 304
    assert "Set-Cookie" not in script.headers


@pytest.mark.parametrize(
    "origins",
    [
        ["https://www.example.de/path"], ["www.example.de"], ["ftp://example.de"], "https://example.de", [7],
        ["https://*.example.de"], ["https://user@example.de"],
    ],
)
def test_embed_origins_must_be_origins(origins, tmp_path):
    with pytest.raises(ConfigError, match="EMBED_ORIGINS"):
        create_app({"TESTING": True, "EMBED_ORIGINS": origins}, instance_path=str(tmp_path))


def test_nothing_is_embeddable_by_default(app, client, config):
    app.config["EMBED_ORIGINS"] = []
    assert plain_form_post(client, "reader@example.org").status_code == 403
    csp = client.get("/embed/subscribe").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AddressRequest)) == 0


def test_the_widget_follows_brand_color_unless_it_is_no_colour(app, client):
    app.config["BRAND_COLOR"] = "#8a1538"
    assert "var(--nl-accent,#8a1538)" in client.get("/embed.css").get_data(as_text=True)
    app.extensions.pop("newsletter_embed_assets")  # rendered once per app: as after a restart
    app.config["BRAND_COLOR"] = "red;} body{display:none"
    style = client.get("/embed.css").get_data(as_text=True)
    assert "var(--nl-accent,#1f5fbf)" in style and "red;}" not in style

"""Every response is protected by the same headers (issue 12, point 7): a Content-Security-Policy
that forbids framing (clickjacking of the confirm, unsubscribe and erase forms), X-Frame-Options,
nosniff, a Referrer-Policy that keeps token URLs on this site, and HSTS when BASE_URL is https.
A view may declare other framing origins (the embed page of SPEC §8) with
:func:`newsletter.security_headers.frame_ancestors`, and nothing else may."""

from __future__ import annotations

import pytest
from flask import abort, current_app
from sqlalchemy import select
from werkzeug.routing import Rule

from newsletter import create_app, tokens
from newsletter.extensions import db
from newsletter.models import Subscriber, SubscriberStatus
from tests.support.factories import add_article, add_subscriber
from tests.support.limits import limit
from tests.support.visitor import carry_out_requests, hidden_fields

ONE_YEAR = 365 * 24 * 3600


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy", "")
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def assert_protected(response, what: str, *, https: bool = True) -> None:
    """Every header of the default protection is on ``response``."""
    csp = policy(response)
    assert csp.get("frame-ancestors") == ["'none'"], (what, csp)
    assert response.headers.get("X-Frame-Options") == "DENY", what
    for directive in ("default-src", "script-src", "style-src", "form-action", "base-uri", "object-src"):
        assert directive in csp, (what, directive)
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], what
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:"} & set(csp["script-src"]), what
    assert csp["form-action"] == ["'self'"], what
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    # Token URLs (/confirm/…, /preferences/…) never go to another site in a Referer.
    assert response.headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), what
    hsts = response.headers.get("Strict-Transport-Security")
    if https:
        assert hsts is not None and int(hsts.split("max-age=")[1].split(";")[0]) >= ONE_YEAR, (what, hsts)
    else:
        assert hsts is None, what


@pytest.fixture
def records(app):
    """One pending and one confirmed subscriber, an article; the tokens their links carry."""
    with app.app_context():
        pending = add_subscriber("pending@example.org", SubscriberStatus.PENDING)
        confirmed = add_subscriber("confirmed@example.org")
        add_article("Neue Preise", url="https://shop.example.org/news/1")
        db.session.commit()
        return {
            "confirm": tokens.make_confirm_token(pending),
            "unsubscribe": tokens.make_unsubscribe_token(confirmed),
            "preferences": tokens.make_preferences_token(confirmed),
        }


def _example_path(rule: Rule, records: dict[str, str]) -> str:
    """A URL of ``rule`` that reaches the real page: real tokens, the first record's id."""
    values: dict[str, object] = {}
    for name in rule.arguments:
        if name == "token":
            kind = next((kind for kind in ("confirm", "unsubscribe") if kind in rule.endpoint), "preferences")
            values[name] = records[kind]
        elif name == "filename":
            values[name] = "style.css"
        else:
            values[name] = 1
    return rule.build(values)[1]


def _get_routes(app) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if "GET" in rule.methods]


def test_every_get_route_sends_the_protecting_headers(app, admin_client, records):
    # Iterates over the URL map, so a route added later is covered without touching this test.
    anonymous = app.test_client()
    answered, checked = {}, 0
    for rule in _get_routes(app):
        path = _example_path(rule, records)
        for who, client in (("anonymous", anonymous), ("admin", admin_client)):
            with client.get(path) as response:  # closed: a static file is sent from an open file
                assert_protected(response, f"{who} GET {path} ({response.status_code})")
                answered[(who, rule.endpoint)] = response.status_code
            checked += 1
    assert checked >= 2 * 25
    # The forms a framing page would trick a reader into pressing were really shown.
    for endpoint in ("public.confirm_form", "public.unsubscribe_form", "public.erase_form", "public.preferences",
                     "public.subscribe_form", "public.privacy", "static", "admin.dashboard",
                     "admin.subscriber_evidence_page", "admin.digest_list"):
        assert answered[("admin", endpoint)] == 200, endpoint
    assert answered[("anonymous", "admin.dashboard")] == 302


@pytest.fixture
def limited(config):
    return limit(config, SUBSCRIBE=1)


def test_error_pages_are_protected_too(limited, app, client):
    @app.get("/_test/fails")
    def fails():
        raise RuntimeError("a bug")

    pages = {
        404: client.get("/no/such/page"),
        405: client.post("/privacy"),
        400: client.post("/subscribe", data={"email": "anna@example.org"}),  # no CSRF token
        500: client.get("/_test/fails"),
    }
    form = hidden_fields(client.get("/subscribe").get_data(as_text=True))
    for number in range(3):
        last = client.post("/subscribe", data={**form, "email": f"anna{number}@example.org"})
    pages[429] = last
    for status, response in pages.items():
        assert response.status_code == status
        assert_protected(response, f"error page {status}")


def test_hsts_only_when_base_url_is_https(config, clock, tmp_path):
    config["BASE_URL"] = "http://127.0.0.1:5000"
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "http"))
    assert_protected(app.test_client().get("/privacy"), "privacy over http", https=False)


def test_admin_pages_keep_their_wider_policy_within_the_same_rules(app, admin_client):
    # The digest preview (a sandboxed srcdoc frame inheriting the policy) needs inline styles and
    # the articles' images; nothing else of the default is given up.
    response = admin_client.get("/admin/digests")
    csp = policy(response)
    assert "'unsafe-inline'" in csp["style-src"] and "https:" in csp["img-src"]
    assert csp["frame-src"] == ["'self'"]
    assert response.headers["Cache-Control"] == "no-store"
    assert_protected(response, "admin digests")
    public = policy(app.test_client().get("/subscribe"))
    assert "'unsafe-inline'" not in public["style-src"] and "https:" not in public.get("img-src", [])


# --- a view that may be framed: the mechanism for the embed page of SPEC §8 ---------------------


EMBEDDERS = ["https://www.example.de", "https://shop.example.de:8443"]


def _add_embeddable_route(app, origins) -> None:
    from newsletter import security_headers

    @app.get("/_test/embed")
    @security_headers.frame_ancestors(lambda: current_app.config["TEST_EMBED_ORIGINS"])
    def embed():
        return "<form></form>"

    @app.get("/_test/embed-missing")
    @security_headers.frame_ancestors(lambda: current_app.config["TEST_EMBED_ORIGINS"])
    def embed_missing():
        abort(404)

    app.config["TEST_EMBED_ORIGINS"] = origins


def test_a_view_can_name_the_origins_that_may_frame_it(app, client):
    _add_embeddable_route(app, EMBEDDERS)
    for path, status in (("/_test/embed", 200), ("/_test/embed-missing", 404)):
        response = client.get(path)
        assert response.status_code == status
        csp = policy(response)
        assert csp["frame-ancestors"] == EMBEDDERS
        assert "X-Frame-Options" not in response.headers  # DENY would forbid what the policy allows
        assert csp["object-src"] == ["'none'"] and csp["form-action"] == ["'self'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Every other page stays unframeable.
    assert_protected(client.get("/subscribe"), "subscribe beside an embeddable view")


@pytest.mark.parametrize(
    "origins",
    [[], ["https://evil.example; script-src *"], ["javascript:alert(1)"], ["*"], ["https://a.example/path"],
     ["'unsafe-inline'"]],
    ids=["none", "injection", "scheme", "wildcard", "path", "keyword"],
)
def test_origins_that_are_no_origin_never_reach_the_policy(app, client, origins):
    _add_embeddable_route(app, origins)
    response = client.get("/_test/embed")
    assert policy(response)["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src *" not in response.headers["Content-Security-Policy"]


def test_a_declaration_that_fails_refuses_framing_and_keeps_the_headers(app, client):
    _add_embeddable_route(app, EMBEDDERS)
    del app.config["TEST_EMBED_ORIGINS"]
    assert_protected(client.get("/_test/embed"), "embed whose origins cannot be read")


def test_a_view_cannot_bypass_the_policy_by_setting_headers_itself(app, client):
    @app.get("/_test/own-headers")
    def own_headers():
        return "x", 200, {"Content-Security-Policy": "frame-ancestors *", "X-Frame-Options": "ALLOWALL"}

    assert_protected(client.get("/_test/own-headers"), "a view with its own headers")


# --- behind an https proxy the forms still work -------------------------------------------------


@pytest.fixture
def https_proxy(config):
    config["PROXY_FIX_X_PROTO"] = 1
    return config


def test_forms_over_https_behind_a_proxy_need_the_same_origin_referer_the_policy_keeps(https_proxy, app, client):
    # Over https Flask-WTF refuses a form without a same-origin Referer: a Referrer-Policy of
    # no-referrer would break every form, so the token pages keep same-origin.
    https = {"X-Forwarded-Proto": "https"}
    page = client.get("/subscribe", headers=https)
    assert page.headers["Referrer-Policy"] == "same-origin"
    form = {**hidden_fields(page.get_data(as_text=True)), "email": "anna@example.org"}
    assert client.post("/subscribe", data=form, headers=https).status_code == 400
    sent = client.post("/subscribe", data=form, headers={**https, "Referer": "https://localhost/subscribe"})
    assert sent.status_code == 200
    carry_out_requests(app)
    with app.app_context():
        assert db.session.scalars(select(Subscriber.email)).all() == ["anna@example.org"]

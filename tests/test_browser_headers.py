"""The protecting headers in real Chromium (issue 12, point 7): another site cannot frame the
confirm, unsubscribe or erase forms; a view that declares its framing origins can be framed by
those; and the public pages work under their policy (the ``new_page`` fixture fails a test on
anything the Content-Security-Policy refused). Screenshots: test-artifacts/screenshots/public-*.png.
"""

from __future__ import annotations

import html

import pytest
from flask import Flask, current_app, request

from newsletter import tokens
from newsletter.extensions import db
from newsletter.models import SubscriberStatus
from tests.support.browser import SCREENSHOTS, LiveServer
from tests.support.factories import add_subscriber

pytestmark = pytest.mark.browser


@pytest.fixture
def links(app):
    """The links a reader gets by mail: confirm (pending), unsubscribe and preferences (confirmed)."""
    with app.app_context():
        pending = add_subscriber("pending@example.org", SubscriberStatus.PENDING)
        confirmed = add_subscriber("confirmed@example.org")
        db.session.commit()
        preferences = tokens.make_preferences_token(confirmed)
        return {
            "confirm": f"/confirm/{tokens.make_confirm_token(pending)}",
            "unsubscribe": f"/unsubscribe/{tokens.make_unsubscribe_token(confirmed)}",
            "preferences": f"/preferences/{preferences}",
            "erase": f"/preferences/{preferences}/erase",
        }


@pytest.fixture
def other_site():
    """Another origin (its own port) whose page frames whatever ``?src=`` names."""
    site = Flask("other_site")

    @site.get("/")
    def framing_page():
        src = html.escape(request.args["src"])
        return f'<!doctype html><title>Other site</title><iframe name="victim" src="{src}"></iframe>'

    with LiveServer(site) as server:
        yield server


def _framed(page, other_site, url: str):
    """Open the other site framing ``url``; the frame once it has loaded or failed to."""
    with page.expect_event("framenavigated", predicate=lambda frame: frame.name == "victim"):
        page.goto(f"{other_site.url}/?src={url}")
    page.wait_for_load_state("load")
    return page.frame(name="victim")


def test_another_site_cannot_frame_the_forms(app, links, live_server, other_site, chromium):
    # Its own context: the refusals here are the point, the new_page fixture would fail on them.
    context = chromium.new_context(locale="de-DE")
    refused = []
    context.on("console", lambda message: refused.append(message.text))
    try:
        page = context.new_page()
        for name in ("confirm", "unsubscribe", "erase"):
            frame = _framed(page, other_site, live_server.url + links[name])
            assert frame.locator("form").count() == 0, name
            assert frame.locator("button").count() == 0, name
        assert sum("frame-ancestors 'none'" in text for text in refused) == 3, refused
    finally:
        context.close()


def test_a_view_that_declares_framing_origins_can_be_framed_by_them(app, live_server, other_site, chromium):
    from newsletter.security_headers import frame_ancestors

    @app.get("/_test/embed")
    @frame_ancestors(lambda: current_app.config["TEST_EMBED_ORIGINS"])
    def embed():
        return "<!doctype html><title>Embed</title><form method=post><button>Abschicken</button></form>"

    context = chromium.new_context(locale="de-DE")
    try:
        page = context.new_page()
        app.config["TEST_EMBED_ORIGINS"] = [other_site.url]
        frame = _framed(page, other_site, live_server.url + "/_test/embed")
        assert frame.get_by_role("button", name="Abschicken").count() == 1
        app.config["TEST_EMBED_ORIGINS"] = ["https://www.example.de"]  # not the framing site
        frame = _framed(page, other_site, live_server.url + "/_test/embed")
        assert frame.get_by_role("button").count() == 0
    finally:
        context.close()


def test_the_public_pages_work_under_their_policy(app, links, live_server, open_page):
    from playwright.sync_api import expect

    page = open_page("de-DE")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {
        "privacy": "/privacy",
        "preferences-request": "/preferences",
        "not-found": "/no/such/page",
        **{name: links[name] for name in ("confirm", "unsubscribe", "preferences", "erase")},
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # style.css applied: the page's background is the stylesheet's, not the browser's white.
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), (name, background)
        page.screenshot(path=str(SCREENSHOTS / f"public-{name}.png"), full_page=True)

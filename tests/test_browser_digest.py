"""The digest as a reader sees it, in real headless Chromium: the mail's HTML on a desktop and a
phone, and leaving through its unsubscribe link (SPEC §3, §6; COMPLIANCE items 18, 19, 23).

Screenshots for a reviewer's eyes go to test-artifacts/screenshots/digest-*.png (gitignored).
"""

from __future__ import annotations

import re

import pytest

from newsletter import subscribers
from newsletter.extensions import db
from newsletter.models import SubscriberStatus
from tests.support.browser import (
    DESKTOP_VIEWPORT,
    PHONE_VIEWPORT,
    SCREENSHOTS,
    LiveServer,
)
from tests.support.factories import add_article, add_subscriber

pytestmark = pytest.mark.browser

ARTICLES = [
    (
        "Neue Preise ab April: was sich für Sie ändert",
        "https://shop.example.org/news/preise-april",
        "Ab dem 1. April gelten neue Preise für Versand & Verpackung. Bestellungen, "
        "die bis Ende März eingehen, kosten so viel wie bisher.\n\n"
        "Alle Einzelheiten stehen im Artikel.",
    ),
    (
        "Quartalszahlen Q1: Umsatz wächst um 12 Prozent, Gewinn stabil, "
        "Ausblick vorsichtig optimistisch",
        "https://shop.example.org/news/q1-2026-umsatz-gewinn-ausblick",
        "Die wichtigsten Zahlen des ersten Quartals auf einen Blick.",
    ),
    (
        "Sonderangebot: Versandkostenfrei bis Sonntag",
        "https://shop.example.org/angebote/versand",
        None,
    ),
]


@pytest.fixture
def digest_mails(smtp_config, app, runner, smtp_server):
    """Send a digest to one German and one English reader over real SMTP; mails by language."""
    app.config["SITE_ADDRESS"] = "Musterstraße 1, 10115 Berlin"
    with app.app_context():
        add_subscriber("leser@example.org", locale="de")
        add_subscriber("reader@example.org", locale="en")
        for title, url, summary in ARTICLES:
            add_article(title, url=url, summary=summary)
        db.session.commit()
    result = runner.invoke(args=["send-digest"])
    assert result.exit_code == 0, result.output
    messages = smtp_server.wait_for(2)
    return {
        "de": next(m for m in messages if "leser@" in str(m["To"])),
        "en": next(m for m in messages if "reader@" in str(m["To"])),
    }


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize(
    ("name", "viewport"),
    [("desktop", DESKTOP_VIEWPORT), ("phone", PHONE_VIEWPORT)],
    ids=["desktop", "phone"],
)
def test_screenshot_of_the_digest(digest_mails, new_page, language, name, viewport):
    html = digest_mails[language].get_body(("html",)).get_content()
    page = new_page(f"{language}-DE" if language == "de" else "en-US", viewport=viewport)
    page.set_content(html)
    # Nothing sticks out sideways, even long titles on a small screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    for title, _url, _summary in ARTICLES:
        link = page.locator("h2 a", has_text=title)
        assert link.is_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    # Readable text, and the way out is visible in the body (COMPLIANCE item 18).
    body_size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.article p')).fontSize)"
    )
    assert body_size >= 16
    unsubscribe = page.locator("a[href*='/unsubscribe/']")
    assert unsubscribe.count() == 1 and unsubscribe.is_visible()
    assert page.locator("a[href*='/preferences/']").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"digest-{language}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_leaving_through_the_link_in_the_digest(digest_mails, app, new_page):
    from playwright.sync_api import expect

    message = digest_mails["en"]
    (link,) = re.findall(
        r'href="([^"]*/unsubscribe/[^"]*)"', message.get_body(("html",)).get_content()
    )
    assert message["List-Unsubscribe"] == f"<{link}>"  # the body link and the header are one URL

    with LiveServer(app) as server:
        page = new_page("en-US", base_url=server.url)
        page.goto(server.url + link.removeprefix(app.config["BASE_URL"]))
        button = page.get_by_role("button", name="Unsubscribe")
        expect(button).to_be_visible()
        expect(page.locator("form[method=post]")).to_have_count(1)
        with app.app_context():  # looking changed nothing
            assert (
                subscribers.find_by_email("reader@example.org").status is SubscriberStatus.CONFIRMED
            )
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            button.click()
        assert answer.value.status == 200
        expect(page.get_by_role("heading", level=1)).to_contain_text("You are unsubscribed")
        page.context.close()
    with app.app_context():
        assert subscribers.find_by_email("reader@example.org").status is SubscriberStatus.WITHDRAWN
        assert subscribers.find_by_email("leser@example.org").status is SubscriberStatus.CONFIRMED

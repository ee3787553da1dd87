"""The sign-up flow end to end in real headless Chromium, over real HTTP and real SMTP (SPEC §3)."""

from __future__ import annotations

import json

import pytest

from newsletter import subscribers
from newsletter.models import SubscriberStatus
from tests.support.browser import (
    DESKTOP_VIEWPORT,
    PHONE_VIEWPORT,
    SCREENSHOTS,
)
from tests.support.flows import drain
from tests.support.visitor import confirm_link

pytestmark = pytest.mark.browser

EMAIL = "anna.beispiel@example.org"


def _statement(page) -> str:
    return " ".join(page.locator("#consent-statement").inner_text().split())


def test_german_visitor_signs_up_and_confirms(
    smtp_config, app, live_server, open_page, smtp_server
):
    from playwright.sync_api import expect

    page = open_page("de-DE")
    user_agent = page.evaluate("navigator.userAgent")

    # The form: German, the button „Abschicken", the statement naming it above the button.
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    button = page.get_by_role("button", name="Abschicken")
    expect(button).to_be_visible()
    statement = _statement(page)
    assert "Mit einem Klick auf „Abschicken“" in statement
    for words in ("Produktneuigkeiten", "Finanznachrichten", "Sonderangebote",
                  "jederzeit ohne Angabe von Gründen mit Wirkung für die Zukunft widerrufen",
                  "Rechtmäßigkeit der bis zum Widerruf erfolgten Verarbeitung bleibt"):
        assert words in statement
    statement_box = page.locator("#consent-statement").bounding_box()
    assert statement_box["y"] + statement_box["height"] <= button.bounding_box()["y"]
    expect(page.locator("input[type=checkbox]")).to_have_count(0)

    page.get_by_label("E-Mail-Adresse").fill(EMAIL)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        button.click()
    assert answer.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bitte sehen Sie in Ihr Postfach")

    # The worker records the sign-up; the DOI mail goes out through the real loopback SMTP server.
    report = drain(app)
    assert report.sent == 1
    [message] = smtp_server.wait_for(1)
    assert EMAIL in str(message["To"])
    link = confirm_link(message)
    assert link.startswith(app.config["BASE_URL"] + "/confirm/")
    link = live_server.url + link.removeprefix(app.config["BASE_URL"])

    # GET shows a button and confirms nothing (link scanners fetch GET links).
    page.goto(link)
    expect(page.locator("form[method=post]")).to_have_count(1)
    confirm_button = page.get_by_role("button", name="Anmeldung bestätigen")
    expect(confirm_button).to_be_visible()
    with app.app_context():
        assert subscribers.find_by_email(EMAIL).status is SubscriberStatus.PENDING

    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        confirm_button.click()
    assert answer.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_contain_text("Ihre Anmeldung ist bestätigt")
    with app.app_context():
        assert subscribers.find_by_email(EMAIL).status is SubscriberStatus.CONFIRMED

    # The evidence, as the operator gets it from the CLI.
    result = app.test_cli_runner().invoke(args=["export-subscriber", EMAIL])
    assert result.exit_code == 0, result.output
    evidence = json.loads(result.output)
    assert evidence["email"] == EMAIL
    assert evidence["status"] == "confirmed"
    assert [event["type"] for event in evidence["events"]] == ["requested", "confirmed"]
    for event in evidence["events"]:
        assert event["ip"] == "127.0.0.1"
        assert event["user_agent"] == user_agent
    requested = evidence["events"][0]
    assert requested["consent_text"]["language"] == "de"
    assert " ".join(requested["consent_text"]["text"].split()) in statement


def test_english_visitor_gets_a_clear_message_for_an_invalid_address(app, live_server, open_page):
    from playwright.sync_api import expect

    page = open_page("en-US")
    page.goto("/subscribe")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    button = page.get_by_role("button", name="Subscribe")
    expect(button).to_be_visible()
    assert "By clicking “Subscribe”" in _statement(page)

    page.get_by_label("Email address").fill("ann@@example.org")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        button.click()
    assert answer.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text("not a valid email address")
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email address")).to_have_value("ann@@example.org")
    expect(page.get_by_role("button", name="Subscribe")).to_be_visible()
    with app.app_context():
        assert subscribers.find_by_email("ann@@example.org") is None


@pytest.mark.parametrize(
    ("name", "viewport"),
    [("desktop", DESKTOP_VIEWPORT), ("phone", PHONE_VIEWPORT)],
    ids=["desktop", "phone"],
)
def test_screenshot_of_the_sign_up_page(app, live_server, open_page, name, viewport):
    # For a reviewer's eyes: test-artifacts/screenshots/subscribe-*.png (gitignored).
    page = open_page("de-DE", viewport=viewport)
    page.goto("/")
    page.get_by_role("button", name="Abschicken").wait_for()
    # Nothing sticks out sideways on a small screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"subscribe-de-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0

"""'Connect your systems' and the API's docs page in real headless Chromium (issue 18): an admin
creates a token, adds a webhook, sends it a test and sees the delivery, on a phone and a desktop,
under the pages' Content-Security-Policy. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest

from newsletter.webhooks import sending
from tests.support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.support.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, SCREENSHOTS

pytestmark = pytest.mark.browser


def _shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"connections-{name}.png"), full_page=True)


@pytest.mark.parametrize(("locale", "viewport"), [("de-DE", PHONE_VIEWPORT), ("en-US", DESKTOP_VIEWPORT)])
def test_an_admin_connects_a_system_with_a_token_and_a_webhook(
    app, live_server, open_page, http_server, locale, viewport
):
    from playwright.sync_api import expect

    english = locale.startswith("en")
    create_admin(app)
    page = open_page(locale, viewport)
    page.goto("/admin/connections")
    page.locator("input[name=email]").fill(ADMIN_EMAIL)
    page.locator("input[name=password]").fill(ADMIN_PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/connections$"))
    page.locator("input[name=name]").fill("Shop")
    page.locator("select[name=scope]").select_option("write")
    page.get_by_role("button", name="Create token" if english else "Token erstellen").click()
    expect(page.locator(".notice code")).to_have_text(re.compile(r"^nl_"))
    _shoot(page, f"token-{locale}")
    page.locator("input[name=url]").fill(http_server.serve("/hook"))
    page.get_by_label("digest.sent").check()
    page.get_by_role("button", name="Add webhook" if english else "Webhook hinzufügen").click()
    expect(page.locator(".notice code")).to_have_text(re.compile(r"^whsec_"))
    page.get_by_role("link", name=http_server.url("/hook")).click()
    page.get_by_role("button", name="Send a test" if english else "Test senden").click()
    expect(page.locator("tbody tr")).to_have_count(1)  # queued, waiting for the worker
    with app.app_context():
        sending.deliver_due()
    page.reload()
    expect(page.locator("tbody tr td").nth(4)).to_have_text("200")
    _shoot(page, f"webhook-{locale}")
    page.goto("/api/v1/docs")
    expect(page.locator("h2").first).to_contain_text("GET /api/v1/consent-text")
    _shoot(page, f"api-docs-{locale}")

"""Browser fixtures shared by the tests/test_browser*.py modules (registered in conftest)."""

from __future__ import annotations

import pytest

from tests.support import services
from tests.support.browser import DESKTOP_VIEWPORT, LiveServer, launch_chromium


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the run; each test gets its own fresh contexts."""
    services.require(services.chromium_available(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def new_page(chromium):
    """``new_page(locale, viewport=..., base_url=...)``: a page in a fresh browser context
    (own cookies). Contexts close at the end of the test, before any live server stops.

    Whatever the pages' Content-Security-Policy refused (Chromium says so on the console) fails
    the test: the pages must work under the policy they are served with."""
    contexts = []
    refused: list[str] = []

    def note_refusal(message) -> None:
        if "Content Security Policy" in message.text:
            refused.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def new_page(locale: str, viewport: dict | None = None, base_url: str | None = None):
        context = chromium.new_context(locale=locale, viewport=viewport or DESKTOP_VIEWPORT, base_url=base_url)
        context.set_default_timeout(20_000)  # a safety net only: a loaded 2-core machine can be slow
        context.on("console", note_refusal)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()
    assert not refused, "refused by the Content-Security-Policy:\n" + "\n".join(refused)


@pytest.fixture
def open_page(new_page, live_server):
    """``open_page(locale, viewport=...)``: a fresh page whose relative URLs go to the live server."""

    def open_page(locale: str, viewport: dict | None = None):
        return new_page(locale, viewport, base_url=live_server.url)

    return open_page

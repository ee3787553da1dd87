"""Browser fixtures shared by the tests/test_browser*.py modules (registered in conftest)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.support import services
from tests.support.browser import DESKTOP_VIEWPORT, NO_THIRD_PARTY_COOKIES, LiveServer, launch_chromium


@pytest.fixture(scope="session")
def playwright():
    services.require(services.chromium_available(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        yield playwright
    finally:
        playwright.stop()


@contextmanager
def _launched(playwright, extra_args: list[str] = ()):
    browser = launch_chromium(playwright, extra_args)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def chromium(playwright):
    """One headless Chromium for the run; each test gets its own fresh contexts."""
    with _launched(playwright) as browser:
        yield browser


@pytest.fixture(scope="session")
def chromium_without_third_party_cookies(playwright):
    """Headless Chromium blocking third-party cookies, for pages of other sites that embed ours."""
    with _launched(playwright, NO_THIRD_PARTY_COOKIES) as browser:
        yield browser


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server


def _pages(browser):
    """``new_page(locale, viewport=..., base_url=...)``: a page in a fresh context of ``browser``
    (own cookies), and at the end the list of what a Content-Security-Policy refused."""
    contexts = []
    refused: list[str] = []

    def note_refusal(message) -> None:
        if "Content Security Policy" in message.text:
            refused.append(f"{message.page.url if message.page else '?'}: {message.text}")

    def new_page(locale: str, viewport: dict | None = None, base_url: str | None = None):
        context = browser.new_context(locale=locale, viewport=viewport or DESKTOP_VIEWPORT, base_url=base_url)
        context.set_default_timeout(20_000)  # a safety net only: a loaded 2-core machine can be slow
        context.on("console", note_refusal)
        contexts.append(context)
        return context.new_page()

    def close() -> list[str]:
        for context in contexts:
            context.close()
        return refused

    return new_page, close


@pytest.fixture
def new_page(chromium):
    """``new_page(locale, viewport=..., base_url=...)``: a page in a fresh browser context
    (own cookies). Contexts close at the end of the test, before any live server stops.

    Whatever the pages' Content-Security-Policy refused (Chromium says so on the console) fails
    the test: the pages must work under the policy they are served with."""
    new_page, close = _pages(chromium)
    yield new_page
    refused = close()
    assert not refused, "refused by the Content-Security-Policy:\n" + "\n".join(refused)


@pytest.fixture
def new_page_without_third_party_cookies(chromium_without_third_party_cookies):
    """``new_page`` in a Chromium that blocks third-party cookies."""
    new_page, close = _pages(chromium_without_third_party_cookies)
    yield new_page
    refused = close()
    assert not refused, "refused by the Content-Security-Policy:\n" + "\n".join(refused)


@pytest.fixture
def open_page(new_page, live_server):
    """``open_page(locale, viewport=...)``: a fresh page whose relative URLs go to the live server."""

    def open_page(locale: str, viewport: dict | None = None):
        return new_page(locale, viewport, base_url=live_server.url)

    return open_page

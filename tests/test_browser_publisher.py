"""The publisher's identity on the pages in real headless Chromium (issue 15 point 1): the logo
from LOGO_URL loads under the pages' Content-Security-Policy (the ``new_page`` fixture fails on
any refusal), the brand colour reaches the button, and the footer names the publisher at 320 and
1280 px. Screenshots: test-artifacts/screenshots/pages-<path>-<lang>-<width>.png (gitignored).
"""

from __future__ import annotations

import pytest

from tests.support.browser import SCREENSHOTS

pytestmark = pytest.mark.browser

LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="360" height="96"><rect width="360" height="96" rx="14" '
    b'fill="#0b6e4f"/><text x="26" y="62" font-family="sans-serif" font-size="36" fill="#fff">'
    b"Beispiel Verlag</text></svg>"
)


def serve_logo(route) -> None:
    route.fulfill(body=LOGO, content_type="image/svg+xml")


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_pages_show_logo_colour_and_imprint(app, live_server, open_page, language):
    app.config.update(
        SITE_ADDRESS="Musterstraße 1, 10115 Berlin",
        IMPRINT_URL="https://www.beispiel-verlag.de/impressum",
        LOGO_URL="https://cdn.beispiel-verlag.de/logo.svg",
        BRAND_COLOR="#0b6e4f",
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for path, name in (("/", "subscribe"), ("/privacy", "privacy")):
        for width in (320, 1280):
            page = open_page("de-DE" if language == "de" else "en-US", viewport={"width": width, "height": 800})
            page.route("https://cdn.beispiel-verlag.de/**", serve_logo)
            page.goto(path, wait_until="load")
            logo = page.locator("header.site img.logo")
            assert logo.evaluate("img => img.complete && img.naturalWidth > 0"), (path, width)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
            footer = page.locator("footer.site").inner_text()
            assert "Musterstraße 1" in footer and ("Impressum" if language == "de" else "Imprint") in footer
            if path == "/":
                colour = page.locator("button[type=submit]").evaluate("b => getComputedStyle(b).backgroundColor")
                assert colour == "rgb(11, 110, 79)"
            page.screenshot(path=str(SCREENSHOTS / f"pages-{name}-{language}-{width}.png"), full_page=True)

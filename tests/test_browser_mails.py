"""Every kind of mail in real headless Chromium, German and English, at 320, 375 and 1280 px
(issue 15 point 2): nothing scrolls sideways or sticks out of its card, the article pictures
fit, and in dark mode every text stays readable (WCAG contrast of at least 4.5 against what is
behind it). Screenshots for a reviewer's eyes go to
test-artifacts/screenshots/mail-<kind>-<lang>-<width>.png and mail-<kind>-<lang>-375-dark.png
(gitignored).
"""

from __future__ import annotations

import pytest

from tests.support.browser import SCREENSHOTS
from tests.support.mails import KINDS, every_mail

pytestmark = pytest.mark.browser

WIDTHS = (320, 375, 1280)

#: Stands in for the pictures on cdn.example.org, served by the browser itself (no network).
PICTURE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630">'
    b'<rect width="1200" height="630" fill="#d9822b"/><circle cx="600" cy="315" r="200" fill="#fff3"/></svg>'
)
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="360" height="80">'
    b'<rect width="360" height="80" rx="12" fill="#0b6e4f"/>'
    b'<text x="24" y="52" font-family="sans-serif" font-size="32" fill="#fff">Beispiel Verlag</text></svg>'
)


def serve_pictures(route) -> None:
    route.fulfill(body=LOGO if route.request.url.endswith("logo.svg") else PICTURE, content_type="image/svg+xml")

#: A publisher with everything set: the footers' longest form, a logo and a brand colour.
PUBLISHER = {
    "SITE_ADDRESS": "Beispiel Verlag GmbH, Musterstraße 1, 10115 Berlin",
    "IMPRINT_URL": "https://www.beispiel-verlag.de/impressum",
    "LOGO_URL": "https://cdn.example.org/logo.svg",
    "BRAND_COLOR": "#0b6e4f",
}

#: Every element beyond the page's right edge (a link sticking out of its card).
BEYOND_THE_EDGE = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
    .map(e => e.tagName + ' ' + (e.textContent || '').trim().slice(0, 40))"""

#: Each visible text's WCAG contrast against the first opaque background behind it.
POOR_CONTRAST = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b]
    .map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  const poor = [];
  for (const e of document.querySelectorAll('.card *, .footer *, .masthead')) {
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || e.closest('.preheader') || !e.getClientRects().length) continue;
    const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(behind(e))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) poor.push(`${e.tagName} "${e.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return poor;
}"""

CARD_LUMINANCE = """() => {
  const [r, g, b] = getComputedStyle(document.querySelector('.card')).backgroundColor.match(/[\\d.]+/g).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}"""


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_mail_fits_every_screen_and_reads_in_dark_mode(app, outbox, new_page, language):
    app.config.update(PUBLISHER)
    mails = every_mail(app, outbox, language)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for kind in KINDS:
        html = mails[kind].get_body(("html",)).get_content()
        for width in WIDTHS:
            for scheme in ("light", "dark") if width == 375 else ("light",):
                locale = f"{language}-DE" if language == "de" else "en-US"
                page = new_page(locale, viewport={"width": width, "height": 900})
                page.route("https://cdn.example.org/**", serve_pictures)
                page.emulate_media(color_scheme=scheme)
                page.set_content(html, wait_until="load")
                suffix = "" if scheme == "light" else "-dark"
                page.screenshot(path=str(SCREENSHOTS / f"mail-{kind}-{language}-{width}{suffix}.png"), full_page=True)
                scroll = page.evaluate("document.documentElement.scrollWidth")
                beyond = page.evaluate(BEYOND_THE_EDGE)
                if scroll > width or beyond:
                    problems.append(f"{kind} at {width}px ({scheme}): {scroll}px wide {beyond[:3]}")
                if scheme == "dark" and page.evaluate(CARD_LUMINANCE) > 0.3:
                    problems.append(f"{kind}: stays light in dark mode (a glaring white card)")
                if poor := page.evaluate(POOR_CONTRAST):
                    problems.append(f"{kind} at {width}px ({scheme}): hard to read: {poor[:3]}")
                if kind.startswith("digest"):
                    picture = page.locator("img.picture").first
                    box = picture.bounding_box()
                    assert picture.evaluate("img => img.complete && img.naturalWidth > 0"), kind
                    assert box["width"] <= width and abs(box["width"] / box["height"] - 1200 / 630) < 0.02, box
    assert not problems, "\n".join(problems)

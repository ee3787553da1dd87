"""The HTML part as inboxes and Outlook read it (issue 15 point 2): a hidden preheader first (the
inbox's preview line), light and dark colour schemes declared, the layout in tables with a
600 px frame for Outlook for Windows (no layout by bare divs), article pictures with https,
width, height and alt; the fallback links of the DOI and preferences mails may wrap.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.support.mails import ARTICLES, KINDS, every_mail


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text in document order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        if data.strip():
            self.texts.append(data.strip())


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


@pytest.mark.parametrize("language", ["de", "en"])
def test_preheader_colour_schemes_and_a_table_layout(app, outbox, language):
    mails = every_mail(app, outbox, language)
    previews = {}
    for kind in KINDS:
        html = html_of(mails[kind])
        parsed = Elements(html)
        metas = {attrs.get("name"): attrs.get("content") for tag, attrs in parsed.tags if tag == "meta"}
        assert metas["color-scheme"] == "light dark" and metas["supported-color-schemes"] == "light dark", kind
        assert "@media (prefers-color-scheme: dark)" in html, kind
        # the first thing in the body is the hidden preview line
        body_at = next(i for i, (tag, _) in enumerate(parsed.tags) if tag == "body")
        tag, attrs = parsed.tags[body_at + 1]
        assert tag == "div" and attrs.get("class") == "preheader" and "display: none" in attrs.get("style", ""), kind
        previews[kind] = html.split('class="preheader"', 1)[1].split(">", 1)[1].split("\u034f", 1)[0]
        # Outlook: a 600 px ghost table, the frame and card as tables; divs only for the preheader
        assert '<!--[if mso]><table role="presentation" width="600"' in html, kind
        assert [attrs.get("class") for tag, attrs in parsed.tags if tag == "div"] == ["preheader"], kind
        card = next(attrs for tag, attrs in parsed.tags if attrs.get("class") == "card")
        assert next(tag for tag, attrs in parsed.tags if attrs.get("class") == "card") == "td"
        assert card.get("bgcolor") == "#ffffff"
        assert all(attrs.get("role") == "presentation" for tag, attrs in parsed.tags if tag == "table"), kind
    assert ("7 Tage" if language == "de" else "7 days") in previews["confirm"]
    assert ("30 Tage" if language == "de" else "30 days") in previews["preferences_link"]
    assert ARTICLES[2]["title"] in previews["digest"] and len(previews["digest"]) <= 140
    # the fallback link may break anywhere: a token URL is one long word
    for kind in ("confirm", "preferences_link"):
        fallback = next(attrs for tag, attrs in Elements(html_of(mails[kind])).tags if attrs.get("class") == "fallback")
        assert "word-break: break-all" in fallback["style"], kind


def test_digests_show_each_articles_picture_with_its_size_and_alt(app, outbox):
    mails = every_mail(app, outbox, "de")
    for kind in ("digest", "digest_test"):
        tags = Elements(html_of(mails[kind])).tags
        pictures = [attrs for tag, attrs in tags if tag == "img" and attrs.get("class") == "picture"]
        (picture,) = pictures  # only the first article has one over https
        first = ARTICLES[0]
        assert picture["src"] == first["image_url"]
        # shown 552 px wide (the card's column), the height scaled along: 1200 × 630 → 552 × 290
        assert (picture["width"], picture["height"], picture["alt"]) == ("552", "290", first["image_alt"])
        assert "height: auto" in picture["style"] and "max-width: 100%" in picture["style"]

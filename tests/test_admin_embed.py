"""/admin/embed (issue 14 point 6): the three snippets ready to copy, with the origins allowed
and the current wording; a warning while EMBED_ORIGINS is empty. The live preview runs in
tests/test_browser_embed.py."""

from __future__ import annotations

import html

from newsletter import consent
from tests.support.embedding import PUBLISHER, allow_publisher


def test_the_page_holds_the_three_snippets_with_the_origins_and_the_current_wording(app, config, admin_client):
    allow_publisher(app.config)
    response = admin_client.get("/admin/embed", headers={"Accept-Language": "de"})
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    base = app.config["BASE_URL"]
    assert f"<code>{PUBLISHER}</code>" in page
    assert f'<div data-newsletter-signup lang="de"></div>\n<script src="{base}/embed.js" async></script>' in page
    assert f'<iframe src="{base}/embed/subscribe?lang=de"' in page and f"{base}/embed/frame.js" in page
    assert f'<form method="post" action="{base}/subscribe">' in page
    with app.test_request_context():
        wording = consent.statement("de")
    assert wording in page and ">Abschicken</button>" in page
    with app.app_context():
        version = consent.text_version("de").sha256
    assert f'name="consent_version" value="{version}"' in page
    assert "Noch darf keine Website" not in page
    assert 'data-newsletter-signup lang="de"></div>\n</div>' in page  # the preview


def test_a_warning_says_that_no_site_may_embed_yet(app, admin_client):
    page = admin_client.get("/admin/embed", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Noch darf keine Website" in html.unescape(page)


def test_the_page_needs_a_signed_in_admin(app, client):
    assert client.get("/admin/embed").status_code in (302, 401)

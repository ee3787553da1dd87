"""The publisher's identity in every page and every mail (issue 15 point 1): SITE_NAME,
SITE_ADDRESS, IMPRINT_URL (§ 5 DDG), PRIVACY_URL, LOGO_URL and BRAND_COLOR; defaults that read
well; a privacy notice that follows the configured consent wording; one warning at start for
each identity setting still at its default (outside debug).
"""

from __future__ import annotations

import logging
import re

import pytest

from newsletter import create_app
from newsletter.settings import ConfigError
from tests.support.mails import KINDS, every_mail

IDENTITY = {
    "SITE_ADDRESS": "Beispiel Verlag GmbH, Musterstraße 1, 10115 Berlin",
    "IMPRINT_URL": "https://www.beispiel-verlag.de/impressum",
    "PRIVACY_URL": "https://www.beispiel-verlag.de/datenschutz",
    "LOGO_URL": "https://cdn.beispiel-verlag.de/logo.png",
    "BRAND_COLOR": "#0B6E4F",
}


def texts(message) -> tuple[str, str]:
    """(text part, HTML part) with plain line ends."""
    return tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_page_names_the_publisher_and_allows_its_logo(app, client, language):
    app.config.update(IDENTITY)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    for path in ["/", "/preferences", "/confirm/broken-token", "/unsubscribe/broken-token", "/nowhere"]:
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code < 500, path
        assert IDENTITY["SITE_ADDRESS"] in page, path
        assert f'href="{IDENTITY["IMPRINT_URL"]}"' in page and f'href="{IDENTITY["PRIVACY_URL"]}"' in page, path
        assert f'<img class="logo" src="{IDENTITY["LOGO_URL"]}" alt="Beispiel Verlag">' in page, path
        assert '<link rel="stylesheet" href="/brand.css">' in page, path
        policy = dict(part.split(" ", 1) for part in response.headers["Content-Security-Policy"].split("; "))
        assert policy["img-src"] == "'self' data: https://cdn.beispiel-verlag.de", path
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    brand = client.get("/brand.css")
    assert brand.status_code == 200 and brand.content_type.startswith("text/css")
    # a dark green takes white text; the colour is the operator's, checked at start
    assert brand.get_data(as_text=True) == ":root { --accent: #0b6e4f; --on-accent: #ffffff; }\n"


def test_a_light_brand_colour_gets_dark_text_and_no_logo_means_no_wider_policy(app, client):
    app.config.update(BRAND_COLOR="#ffd60a")
    assert "--on-accent: #1d2330" in client.get("/brand.css").get_data(as_text=True)
    response = client.get("/")
    assert "img-src 'self' data:;" in response.headers["Content-Security-Policy"]
    assert '<img class="logo"' not in response.get_data(as_text=True)


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_mail_footer_names_the_publisher_and_the_doi_mail_stays_neutral(app, outbox, language):
    app.config.update(IDENTITY)
    mails = every_mail(app, outbox, language)
    for kind in KINDS:
        text, html = texts(mails[kind])
        footer = text[text.index("\n-- \n") :]
        for value in ("Beispiel Verlag", IDENTITY["SITE_ADDRESS"], IDENTITY["IMPRINT_URL"], IDENTITY["PRIVACY_URL"]):
            assert value in footer, (kind, value)
        html_footer = html[html.index('class="footer"') :]
        assert IDENTITY["SITE_ADDRESS"] in html_footer, kind
        assert f'href="{IDENTITY["IMPRINT_URL"]}"' in html_footer and f'href="{IDENTITY["PRIVACY_URL"]}"' in html_footer
        assert "#0b6e4f" in html, kind  # the button or links in the brand colour
    # The logo heads the digest; the confirmation request carries none (COMPLIANCE item 10).
    for kind in ("digest", "digest_test"):
        assert f'<img src="{IDENTITY["LOGO_URL"]}" alt="Beispiel Verlag"' in texts(mails[kind])[1]
    for kind in ("confirm", "preferences_link"):
        assert IDENTITY["LOGO_URL"] not in texts(mails[kind])[1]
    assert 'bgcolor="#0b6e4f"' in texts(mails["confirm"])[1]

#: How the placeholder SITE_NAME read in texts that name the publisher.
AWKWARD = ("von Newsletter", "of Newsletter", "bei Newsletter", "to Newsletter", "Newsletter Newsletter")


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_defaults_read_well(app, client, outbox, language):
    app.config["SITE_NAME"] = "Newsletter"  # config.py's default
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    for path in ("/", "/privacy", "/preferences"):
        page = client.get(path).get_data(as_text=True)
        (title,) = re.findall(r"<title>(.*?)</title>", page)
        assert "Newsletter · Newsletter" not in title and not title.endswith("· Newsletter"), title
        assert "Verantwortlich: Newsletter" not in page and "Controller: Newsletter" not in page
    privacy = client.get("/privacy").get_data(as_text=True)
    controller = {"de": "Verantwortlich: der Betreiber dieser Website", "en": "Controller: the operator of this"}
    assert controller[language] in privacy
    for kind, message in every_mail(app, outbox, language).items():
        for part in texts(message) + (str(message["Subject"]),):
            for awkward in AWKWARD:
                assert awkward not in part, (kind, awkward)


def test_the_privacy_notice_follows_the_configured_wording(app, client):
    app.config["CONSENT_TEXT"] = {"de": "Mit „{button}“ erhalte ich von {site_name} jeden Freitag Rezepte per E-Mail."}
    page = client.get("/privacy", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Mit „Abschicken“ erhalte ich von Beispiel Verlag jeden Freitag Rezepte per E-Mail." in page
    assert "Produktneuigkeiten" not in page and "Finanznachrichten" not in page
    # English keeps the built-in wording, and so the built-in purposes
    english = client.get("/privacy", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "product news, financial news and special offers" in english


def _start(tmp_path, **settings):
    settings = {"SECRET_KEY": "s" * 32, "RATELIMIT_ENABLED": False, **settings}
    return create_app(settings, instance_path=str(tmp_path / "p"))


def _identity_warnings(caplog) -> list[str]:
    keys = ("SITE_NAME", "SITE_ADDRESS", "MAIL_DEFAULT_SENDER")
    messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    return [message for message in messages if any(key in message for key in keys)]


def test_a_production_start_warns_once_for_each_identity_default(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    _start(tmp_path)
    site_name, address, sender = _identity_warnings(caplog)
    assert "NEWSLETTER_SITE_NAME" in site_name
    assert "NEWSLETTER_IMPRINT_URL" in address and "§ 5 DDG" in address
    assert "NEWSLETTER_MAIL_DEFAULT_SENDER" in sender
    caplog.clear()
    _start(tmp_path, SITE_NAME="Beispiel Verlag", IMPRINT_URL="https://example.org/impressum",
           MAIL_DEFAULT_SENDER="Beispiel Verlag <news@example.org>")
    _start(tmp_path, DEBUG=True)
    assert _identity_warnings(caplog) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("LOGO_URL", "http://cdn.example.org/logo.png"), ("LOGO_URL", "javascript:alert(1)"),
     ("IMPRINT_URL", "javascript:alert(1)"), ("PRIVACY_URL", "/datenschutz"),
     ("BRAND_COLOR", "red; background: url(x)"), ("BRAND_COLOR", "#12345")],
)
def test_unusable_identity_settings_stop_the_start(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        _start(tmp_path, **{key: value})

"""The rendered mails, as files a reviewer can read: tests/snapshots/email/<mail>.<lang>.{txt,html}.

Rendering is made deterministic (frozen clock, fixed SECRET_KEY, nonces and Message-ID) and
compared with the files; ``UPDATE_SNAPSHOTS=1`` rewrites them after an intended change. The
``.txt`` file holds the headers that matter and the text part; the ``.html`` file is the HTML
part as sent (CSS inlined) and opens in any browser.
"""

from __future__ import annotations

import difflib
import os
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext

from newsletter import consent, digest, subscribers
from newsletter.delivery import compose, sender
from newsletter.extensions import db
from newsletter.models import DigestTrigger
from tests.support.factories import add_article, add_subscriber

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "email"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
NONCE = "snapshot-nonce00"


@pytest.fixture
def deterministic(config, monkeypatch):
    config.update(SECRET_KEY="snapshot-secret", SITE_ADDRESS="Musterstraße 1, 10115 Berlin")
    monkeypatch.setattr(compose, "make_msgid", lambda domain: f"<snapshot@{domain}>")
    monkeypatch.setattr(subscribers, "new_nonce", lambda: NONCE)
    return config


def as_sent(message) -> tuple[str, str]:
    """(headers and text part, HTML part) of ``message`` as it goes over the wire."""
    wire = message_from_bytes(message.as_bytes(), policy=policy.default)
    head = [f"{name}: {wire[name]}" for name in HEADERS if wire[name] is not None]
    text = wire.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = wire.get_body(("html",)).get_content().replace("\r\n", "\n")
    return "\n".join(head) + "\n\n" + text, html


def compare(name: str, rendered: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; create it with UPDATE_SNAPSHOTS=1", pytrace=False)
    expected = path.read_text(encoding="utf-8")
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                str(path),
                "rendered",
            )
        )
        pytest.fail(
            f"{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 accepts it):\n{diff}",
            pytrace=False,
        )


def require_german_texts(app, msgid: str) -> None:
    """The German digest snapshots show the German texts; compare only once they are compiled."""
    with app.app_context(), force_locale("de"):
        if gettext(msgid) == msgid and not UPDATE:
            pytest.skip(
                "the German catalog does not translate the digest yet: run `python3 dev.py babel`"
            )


@pytest.mark.parametrize("language", ["de", "en"])
def test_confirmation_mail(deterministic, app, outbox, language):
    with app.app_context():
        subscribers.request_subscription(
            f"anna.{language}@example.org",
            text=consent.text_version(language),
            locale=language,
            ip="192.0.2.1",
            user_agent="Snapshot",
        )
        db.session.commit()
        mail_queue_drain()
    (message,) = outbox
    text, html = as_sent(message)
    compare(f"confirm.{language}.txt", text)
    compare(f"confirm.{language}.html", html)


@pytest.mark.parametrize("language", ["de", "en"])
def test_digest_mail(deterministic, app, outbox, clock, language):
    if language == "de":
        require_german_texts(app, "News from %(site)s")
    with app.app_context():
        add_subscriber(
            f"anna.{language}@example.org",
            locale=language,
            confirm_nonce=NONCE,
            access_nonce=NONCE,
            confirmed_at=clock.advance(days=-30),
        )
        clock.advance(days=30)
        add_article(
            "Neue Preise ab April: was sich für Sie ändert",
            url="https://shop.example.org/news/preise-april",
            summary=(
                "Ab dem 1. April gelten neue Preise für Versand & Verpackung.\n\n"
                "Bestellungen, die bis Ende März eingehen, kosten so viel wie bisher – "
                '"garantiert".'
            ),
            published_at=clock.advance(hours=-2),
        )
        clock.advance(hours=2)
        add_article("Quartalszahlen Q1 <2026>", url="https://shop.example.org/news/q1-2026")
        db.session.commit()
        digest.build_digest(DigestTrigger.SCHEDULE)
        db.session.commit()
        mail_queue_drain()
    (message,) = outbox
    text, html = as_sent(message)
    compare(f"digest.{language}.txt", text)
    compare(f"digest.{language}.html", html)


def mail_queue_drain() -> None:
    assert sender.drain().sent == 1

"""Every kind of mail the service sends, for tests that look at all of them (headers, layout).

:func:`every_mail` sends one of each through the app's real send path into the in-memory
outbox (the ``outbox`` fixture) and returns them by kind; call it once per app.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from flask import Flask

from newsletter import consent, digest, preferences, subscribers
from newsletter.delivery import sender
from newsletter.extensions import db
from newsletter.models import DigestTrigger
from tests.support.factories import add_article, add_subscriber

KINDS = ("confirm", "preferences_link", "digest", "digest_test")
#: Writes a message from the outbox back as it came over the wire (CRLF, no refolding).
_WIRE = policy.default.clone(refold_source="none", linesep="\r\n")


def wire(message: EmailMessage) -> bytes:
    """The bytes of ``message`` (from :func:`every_mail` or the outbox) as the sender wrote them."""
    return message.as_bytes(policy=_WIRE)

#: Articles as a real publisher writes them: long words, umlauts, a long URL, a picture.
ARTICLES = [
    dict(
        title="Neue Preise ab April: was sich für Sie ändert",
        url="https://shop.example.org/news/2026/04/neue-preise-ab-april-versandkostenpauschale-verpackung",
        summary="Ab dem 1. April gelten neue Preise für Versand & Verpackung. Bestellungen, "
        "die bis Ende März eingehen, kosten so viel wie bisher.\n\nAlle Einzelheiten stehen im Artikel.",
        image_url="https://cdn.example.org/bilder/preise-april.jpg",
        image_width=1200,
        image_height=630,
        image_alt="Ein Preisschild im Schaufenster",
    ),
    dict(
        title="Quartalszahlen Q1: Umsatzsteigerungsprognoseberichterstattung für Anlegerinnen",
        url="https://shop.example.org/news/q1-2026-umsatz-gewinn-ausblick",
        summary="Die wichtigsten Zahlen des ersten Quartals auf einen Blick.",
        # stored past the rules (an older row): a picture over http never goes into a mail
        image_url="http://cdn.example.org/bilder/q1.jpg",
    ),
    dict(title="Sonderangebot: Versandkostenfrei bis Sonntag", url="https://shop.example.org/angebote/versand"),
]


def every_mail(app: Flask, outbox: list, locale: str) -> dict[str, EmailMessage]:
    """One mail of each kind in ``locale`` (sent now, through the sender), parsed, by kind."""
    address = f"anna.maria.mustermann-{locale}@example.org"
    sent: dict[str, EmailMessage] = {}

    def send(kind: str) -> None:
        before = len(outbox)
        db.session.commit()
        assert sender.drain().sent == 1, kind
        (message,) = outbox[before:]
        sent[kind] = message_from_bytes(wire(message), policy=policy.default.clone(refold_source="none"))

    with app.app_context():
        subscribers.request_subscription(
            address, text=consent.text_version(locale), locale=locale, ip="192.0.2.1", user_agent="Test"
        )
        send("confirm")
        preferences.request_link(address, locale)
        send("preferences_link")
        add_subscriber(f"leserin.mit.langer.adresse-{locale}@example.org", locale=locale)
        for fields in ARTICLES:
            add_article(fields["title"], **{key: value for key, value in fields.items() if key != "title"})
        digest.queue_test(f"admin-{locale}@example.org", locale)
        send("digest_test")
        digest.build_digest(DigestTrigger.COMMAND)
        send("digest")
    return sent

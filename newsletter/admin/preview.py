"""The next digest as a subscriber will see it, rendered for the admin's preview.

Rendered by the same functions as the real mail (:class:`newsletter.delivery.kinds.DigestMail`:
the digest once per language, then the reader's values filled in), for a sample recipient.
The links to unsubscribe and to the preferences have the real shape but a placeholder
token, so the preview never carries a working personal link.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .. import articles as article_queries
from .. import clock
from ..delivery import compose, kinds
from ..delivery.links import external_url
from ..models import Article

#: The recipient the preview is addressed to (a reserved example domain, RFC 2606).
SAMPLE_ADDRESS = "subscriber@example.org"
#: Stands in for a subscriber's signed token in the preview's links.
SAMPLE_TOKEN = "PREVIEW"


@dataclass(frozen=True)
class Preview:
    articles: list[Article]
    content: compose.Content


def next_digest(locale: str) -> Preview:
    """The next digest (every article not yet in one) in ``locale``, as of now."""
    now = clock.now()
    articles = article_queries.undigested()
    items, framing = kinds.shown([kinds.DigestItem.of(article) for article in articles])
    content = kinds.digest_content(items, locale, now, confirmed=True, framing=framing)
    values, html_values = kinds.personal_values(
        locale,
        email=SAMPLE_ADDRESS,
        confirmed_at=now,
        unsubscribe_url=external_url("public.unsubscribe", token=SAMPLE_TOKEN),
        preferences_url=external_url("public.preferences", token=SAMPLE_TOKEN),
    )
    return Preview(articles=articles, content=content.filled(values, html_values))


def language(requested: str | None, fallback: str) -> str:
    """The preview's language: one the service offers, else ``fallback``."""
    languages = current_app.config["LANGUAGES"]
    return requested if requested in languages else fallback

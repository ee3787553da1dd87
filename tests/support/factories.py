"""Rows made directly through the models, for tests that need a state rather than its history.

Call inside an app context; each helper flushes, the test commits.
"""

from __future__ import annotations

from datetime import datetime
from itertools import count

from newsletter import clock
from newsletter.extensions import db
from newsletter.models import Article, ArticleSource, Subscriber, SubscriberStatus

_numbers = count(1)


def add_subscriber(
    email: str | None,
    status: SubscriberStatus = SubscriberStatus.CONFIRMED,
    *,
    locale: str = "de",
    confirmed_at: datetime | None = None,
    **columns,
) -> Subscriber:
    """A subscriber in ``status``; confirmed ones get ``confirmed_at`` (default: now)."""
    now = clock.now()
    if status is SubscriberStatus.CONFIRMED and confirmed_at is None:
        confirmed_at = now
    subscriber = Subscriber(
        email=email,
        status=status,
        locale=locale,
        created_at=now,
        confirmed_at=confirmed_at,
        **columns,
    )
    db.session.add(subscriber)
    db.session.flush()
    return subscriber


def add_article(
    title: str = "",
    *,
    url: str | None = None,
    summary: str | None = None,
    published_at: datetime | None = None,
    **columns,
) -> Article:
    """An article not yet in any digest (unless ``digest_id`` is given)."""
    number = next(_numbers)
    now = clock.now()
    url = url or f"https://example.org/articles/{number}"
    article = Article(
        guid=columns.pop("guid", f"{url}#{number}"),
        title=title or f"Article {number}",
        url=url,
        summary=summary,
        published_at=published_at or now,
        source=columns.pop("source", ArticleSource.CLI),
        created_at=now,
        updated_at=now,
        **columns,
    )
    db.session.add(article)
    db.session.flush()
    return article

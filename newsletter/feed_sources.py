"""Which feeds the worker polls: FEED_URLS, and the feeds admins add, remove and ask to poll now.

The admin never fetches a feed on its request: adding one or asking for a poll sets
``Feed.poll_requested_at``, and the worker's ``poll-feeds-now`` job (every
SEND_INTERVAL_SECONDS) polls it through :func:`newsletter.feeds.poll`. An address is checked
when added as far as it can be without the network (http(s), no address or ``localhost``
name refused by :mod:`newsletter.webclient`); a name's addresses are checked at every
connection. Like the other services, these flush and never commit.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, update

from . import articles, clock, webclient
from .articles import ArticleError
from .extensions import db
from .models import Feed


class FeedRefused(Exception):
    """The address cannot be added; ``refused`` is set when it is an address feeds may not reach."""

    def __init__(self, message: str, refused: webclient.Refused | None = None) -> None:
        super().__init__(message)
        self.refused = refused


class AlreadyPolled(Exception):
    """The feed is polled already (FEED_URLS or added before)."""


def configured(url: str) -> bool:
    return url in current_app.config["FEED_URLS"]


def polled(feed: Feed) -> bool:
    return configured(feed.url) or (feed.added_at is not None and feed.removed_at is None)


def polled_urls() -> list[str]:
    """FEED_URLS, then the feeds admins added and did not remove, each once."""
    added = db.session.execute(
        select(Feed.url).where(Feed.added_at.is_not(None), Feed.removed_at.is_(None)).order_by(Feed.id)
    ).scalars()
    return list(dict.fromkeys([*current_app.config["FEED_URLS"], *added]))


def add(url: str) -> Feed:
    """Start polling the feed at ``url`` and ask for its first poll now.

    :raises FeedRefused: for an address that is not http(s) or is one feeds may not reach.
    :raises AlreadyPolled: if the feed is polled already.
    """
    url = check(url)
    feed = db.session.execute(select(Feed).filter_by(url=url)).scalar_one_or_none()
    if feed is not None and polled(feed):
        raise AlreadyPolled(url)
    if configured(url):
        raise AlreadyPolled(url)
    if feed is None:
        feed = Feed(url=url)
        db.session.add(feed)
    feed.added_at = clock.now()
    feed.removed_at = None
    feed.poll_requested_at = feed.added_at
    db.session.flush()
    return feed


def check(url: str) -> str:
    """``url`` as it is stored, if feeds may be fetched from it; :class:`FeedRefused` else."""
    try:
        url = articles.clean_url(url)
    except ArticleError as exc:
        raise FeedRefused(str(exc)) from None
    if not current_app.config["FEED_ALLOW_PRIVATE_NETWORKS"]:
        refused = webclient.refusal_without_lookup(urlsplit(url).hostname or "")
        if refused is not None:
            raise FeedRefused(str(refused), refused)
    return url


def remove(feed: Feed) -> None:
    """Stop polling a feed an admin added; its articles stay. FEED_URLS' feeds stay polled."""
    feed.removed_at = clock.now()
    feed.poll_requested_at = None
    db.session.flush()


def request_poll(feed: Feed) -> None:
    """Ask the worker to poll ``feed`` on its next round (at most one request waits per feed)."""
    feed.poll_requested_at = feed.poll_requested_at or clock.now()
    db.session.flush()


def take_requests() -> list[str]:
    """The feeds whose poll was asked for, oldest request first, their requests cleared.

    Two workers taking the same request poll the feed twice, which imports nothing twice; a
    worker stopped before it polled loses the request, and the regular poll makes up for it."""
    urls = list(
        db.session.execute(
            select(Feed.url)
            .where(Feed.poll_requested_at.is_not(None))
            .order_by(Feed.poll_requested_at, Feed.id)
        ).scalars()
    )
    if urls:
        db.session.execute(
            update(Feed).where(Feed.url.in_(urls)).values(poll_requested_at=None)
        )
        db.session.flush()
    return urls

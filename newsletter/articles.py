"""Articles: checking, cleaning and saving them, whoever adds them (command, feed, admin).

Every article passes through :func:`save_article` (upsert by ``guid``) or
:func:`update_article` (edit one known article), so the rules hold for all sources: a
one-line title, an absolute http(s) URL, a plain-text summary, body HTML sanitised with nh3
before it is stored, an aware publication time. Functions here flush but never commit.

An article's ``digest_id`` is never touched here: an article already mailed in a digest may
still be corrected, but it stays in that digest and is never mailed again.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import nh3
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from . import clock, htmltext, images
from .extensions import db
from .models import Article, ArticleSource, Feed, KeptOut

logger = logging.getLogger(__name__)

#: Column sizes of the article table.
MAX_TITLE_LENGTH = 500
MAX_URL_LENGTH = 2000
MAX_GUID_LENGTH = 2000
#: A summary is a teaser in the digest, not the article; longer feed summaries are shortened.
MAX_SUMMARY_LENGTH = 1000

#: Links and images in body HTML may only point to the web or to mail addresses.
_BODY_URL_SCHEMES = {"http", "https", "mailto"}
#: Control characters (tab and newline included): a title is a single line.
_TITLE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Control characters other than tab and newline: never part of a plain-text summary.
_SUMMARY_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ArticleError(ValueError):
    """An article cannot be saved as given; the message says what to fix.

    ``field`` names the offending input (``title``, ``url``, ``summary``, ``published_at``,
    ``guid``) so a form can show the message next to it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Saved:
    """What :func:`save_article` did, and to which article."""

    article: Article
    outcome: Outcome


@dataclass(frozen=True)
class _Content:
    """The checked, normalised fields a caller may set."""

    title: str
    url: str
    summary: str | None
    body_html: str | None
    published_at: datetime | None
    image: images.ArticleImage | None


def clean_title(title: str | None) -> str:
    """The title with surrounding spaces removed; :class:`ArticleError` if it is unusable."""
    title = (title or "").strip()
    if not title:
        raise ArticleError("title", "the title must not be empty")
    if _TITLE_FORBIDDEN.search(title):
        raise ArticleError("title", "the title must be a single line without control characters")
    if len(title) > MAX_TITLE_LENGTH:
        raise ArticleError("title", f"the title is longer than {MAX_TITLE_LENGTH} characters")
    return title


def clean_url(url: str | None, *, field: str = "url") -> str:
    """An absolute http(s) URL with surrounding spaces removed; :class:`ArticleError` if not."""
    url = (url or "").strip()
    if not url:
        raise ArticleError(field, "the URL must not be empty")
    if len(url) > MAX_URL_LENGTH:
        raise ArticleError(field, f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(char.isspace() or _TITLE_FORBIDDEN.match(char) for char in url):
        raise ArticleError(field, "the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)  # ValueError for a bracket left open: "https://[::1"
    except ValueError as exc:
        raise ArticleError(field, f"the URL {url!r} cannot be read") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ArticleError(field, f"the URL must start with http:// or https://, got {url!r}")
    try:
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise ArticleError(field, f"the URL {url!r} has an invalid host or port") from exc
    if not host:
        raise ArticleError(field, f"the URL {url!r} has no host name")
    return url


def clean_summary(summary: str | None) -> str | None:
    """Plain text, line breaks normalised and trimmed; None for nothing.

    Characters like ``<`` are kept as they are: a summary is text, escaped wherever shown.
    """
    if summary is None:
        return None
    summary = summary.replace("\r\n", "\n").replace("\r", "\n").strip()
    if _SUMMARY_FORBIDDEN.search(summary):
        raise ArticleError("summary", "the summary must not contain control characters")
    if len(summary) > MAX_SUMMARY_LENGTH:
        raise ArticleError("summary", f"the summary is longer than {MAX_SUMMARY_LENGTH} characters")
    return summary or None


def summary_from_html(html: str | None) -> str | None:
    """A plain-text summary of HTML from outside: tags dropped, entities resolved, shortened."""
    if html is None:
        return None
    text = htmltext.shorten(htmltext.html_to_text(html), MAX_SUMMARY_LENGTH)
    return text or None


def sanitise_html(html: str | None) -> str | None:
    """``html`` reduced to harmless markup (no scripts, styles, event handlers, iframes, …)."""
    if html is None:
        return None
    cleaned = nh3.clean(html, url_schemes=_BODY_URL_SCHEMES, link_rel="noopener noreferrer").strip()
    return cleaned or None


def clean_image(image: images.ArticleImage | None) -> images.ArticleImage | None:
    """The picture checked again (https only, sizes, alt text); :class:`ArticleError` if not."""
    if image is None:
        return None
    try:
        return images.clean_image(image.url, image.width, image.height, image.alt)
    except images.ImageError as exc:
        raise ArticleError("image_url", str(exc)) from exc


def clean_published_at(published_at: datetime | None) -> datetime | None:
    """The time in UTC; a time without zone is refused (its meaning would be a guess), and so
    is one beyond the years the service can hold (:func:`newsletter.clock.holdable`)."""
    if published_at is None:
        return None
    if published_at.tzinfo is None or published_at.utcoffset() is None:
        raise ArticleError("published_at", "the publication time needs a time zone")
    if not clock.holdable(published_at):
        raise ArticleError(
            "published_at", f"the publication time must lie between {clock.EARLIEST_YEAR} and {clock.LATEST_YEAR}"
        )
    return published_at.astimezone(UTC)


def undigested() -> list[Article]:
    """The articles the next digest will carry (none kept out), newest first."""
    return list(
        db.session.execute(
            select(Article)
            .where(Article.digest_id.is_(None), Article.kept_out.is_(None))
            .order_by(Article.published_at.desc(), Article.id.desc())
        ).scalars()
    )


class AlreadyMailed(ValueError):
    """The article went out in a digest: it stays part of that digest's record."""


def keep_out(article: Article, out: bool) -> None:
    """Keep an article not yet mailed out of every digest (``out``), or let it into the next
    one again (a feed's backlog too); flushes.

    :raises AlreadyMailed: the article is in a digest already.
    """
    if article.digest_id is not None:
        raise AlreadyMailed(article.id)
    article.kept_out = KeptOut.ADMIN if out else None
    article.updated_at = clock.now()
    db.session.flush()
    logger.info("article %r %s", article.id, "kept out of digests" if out else "let into the next digest")


def delete_article(article: Article) -> None:
    """Delete an article not yet mailed; flushes. A feed's article stays as a tombstone (kept
    out, hidden everywhere), so that the feed's next poll does not bring it back as new.

    :raises AlreadyMailed: the article is in a digest already.
    """
    if article.digest_id is not None:
        raise AlreadyMailed(article.id)
    if article.source is ArticleSource.FEED:
        article.kept_out = KeptOut.DELETED
        article.updated_at = clock.now()
    else:
        db.session.delete(article)
    db.session.flush()
    logger.info("article %r deleted", article.id)


def shown_in_admin():
    """The condition of the articles the admin lists: all but deleted feed articles."""
    return or_(Article.kept_out.is_(None), Article.kept_out != KeptOut.DELETED)


def of_digest(digest_id: int) -> list[Article]:
    """The articles of one digest, newest first."""
    return list(
        db.session.execute(
            select(Article)
            .where(Article.digest_id == digest_id)
            .order_by(Article.published_at.desc(), Article.id.desc())
        ).scalars()
    )


def find_by_guid(guid: str) -> Article | None:
    return db.session.execute(select(Article).filter_by(guid=guid)).scalar_one_or_none()


def save_article(
    *,
    title: str,
    url: str,
    source: ArticleSource,
    guid: str | None = None,
    summary: str | None = None,
    body_html: str | None = None,
    published_at: datetime | None = None,
    image: images.ArticleImage | None = None,
    feed: Feed | None = None,
) -> Saved:
    """Create the article ``guid`` names, or bring it up to date with what is given.

    :param guid: the article's identity: a feed entry's id; defaults to ``url``, so adding
        the same URL twice by hand updates one article.
    :param summary: plain text; None leaves the article without a summary.
    :param body_html: HTML, sanitised here before it is stored.
    :param published_at: aware; None means now for a new article and "keep" for a known one.
    :param image: the picture shown in digests; None leaves the article without one.
    :param source, feed: where a new article came from; a known article keeps its origin.
    :raises ArticleError: before anything is written, if a field is unusable.
    """
    content = _clean(title, url, summary, body_html, published_at, image)
    guid = _clean_guid(guid if guid is not None else content.url)
    article = find_by_guid(guid)
    if article is not None:
        return Saved(article, _apply(article, content))
    now = clock.now()
    article = Article(
        guid=guid,
        title=content.title,
        url=content.url,
        summary=content.summary,
        body_html=content.body_html,
        published_at=content.published_at or now,
        **_image_columns(content.image),
        source=source,
        feed=feed,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(article)
    except IntegrityError:  # the same guid saved by a parallel import in the meantime
        article = find_by_guid(guid)
        if article is None:
            raise
        return Saved(article, _apply(article, content))
    logger.info("article %r created from %s: %r", article.id, source.value, content.url)
    return Saved(article, Outcome.CREATED)


def update_article(
    article: Article,
    *,
    title: str,
    url: str,
    summary: str | None = None,
    body_html: str | None = None,
    published_at: datetime | None = None,
    image: images.ArticleImage | None = None,
) -> Outcome:
    """Set a known article's content (e.g. an edit in the admin area); same rules as above.

    The ``guid``, origin and digest stay as they are.
    """
    return _apply(article, _clean(title, url, summary, body_html, published_at, image))


def _clean(
    title: str | None,
    url: str | None,
    summary: str | None,
    body_html: str | None,
    published_at: datetime | None,
    image: images.ArticleImage | None,
) -> _Content:
    return _Content(
        title=clean_title(title),
        url=clean_url(url),
        summary=clean_summary(summary),
        body_html=sanitise_html(body_html),
        published_at=clean_published_at(published_at),
        image=clean_image(image),
    )


def _image_columns(image: images.ArticleImage | None) -> dict:
    return {
        "image_url": image.url if image else None,
        "image_width": image.width if image else None,
        "image_height": image.height if image else None,
        "image_alt": image.alt if image else None,
    }


def image_of(article: Article) -> images.ArticleImage | None:
    """The article's picture as stored, or None."""
    if not article.image_url:
        return None
    return images.ArticleImage(article.image_url, article.image_width, article.image_height, article.image_alt)


def _clean_guid(guid: str) -> str:
    guid = guid.strip()
    if not guid:
        raise ArticleError("guid", "the article's identity (guid) must not be empty")
    if len(guid) > MAX_GUID_LENGTH:
        raise ArticleError(
            "guid", f"the article's identity (guid) is longer than {MAX_GUID_LENGTH} characters"
        )
    return guid


def _apply(article: Article, content: _Content) -> Outcome:
    wanted = {
        "title": content.title,
        "url": content.url,
        "summary": content.summary,
        "body_html": content.body_html,
        **_image_columns(content.image),
    }
    if content.published_at is not None:
        wanted["published_at"] = content.published_at
    changed = [name for name, value in wanted.items() if getattr(article, name) != value]
    if not changed:
        return Outcome.UNCHANGED
    for name in changed:
        setattr(article, name, wanted[name])
    article.updated_at = clock.now()
    db.session.flush()
    logger.info("article %r updated: %s", article.id, ", ".join(changed))
    return Outcome.UPDATED

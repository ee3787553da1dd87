from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, str_enum


class ArticleSource(enum.StrEnum):
    CLI = "cli"
    FEED = "feed"
    ADMIN = "admin"


class KeptOut(enum.StrEnum):
    """Why an article not yet mailed stays out of every digest."""

    BACKLOG = "backlog"  #: older than FEED_BACKLOG_DAYS on its feed's first import
    ADMIN = "admin"  #: an admin kept it out (and may let it in again)
    DELETED = "deleted"  #: an admin deleted a feed's article: kept so the next poll does not bring it back


class Feed(db.Model):
    """An RSS or Atom feed polled for new articles, with the outcome of its last poll."""

    __tablename__ = "feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    #: HTTP validators from the last successful fetch, for conditional requests.
    etag: Mapped[str | None] = mapped_column(String(500))
    modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "ok" or a short description of what went wrong on the last poll.
    last_result: Mapped[str | None] = mapped_column(String(500))
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the last successful poll had to guess or repair (one per line); None when nothing.
    last_warnings: Mapped[str | None] = mapped_column(Text)
    #: When an admin added the feed: the worker polls it (as it does FEED_URLS) until removed.
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When an admin removed it: no longer polled; its articles stay.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: An admin asked for a poll now; the worker polls it on its next round and clears this.
    poll_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Article(db.Model):
    """One article of the site; goes into exactly one digest at most (``digest_id``)."""

    __tablename__ = "article"
    __table_args__ = (Index("ix_article_undigested", "digest_id", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Identity for idempotent imports: the feed entry's id, or the URL for hand-made articles.
    guid: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(2000))
    #: Plain text; escaped wherever it is shown.
    summary: Mapped[str | None] = mapped_column(Text)
    #: HTML, sanitised with nh3 before it is stored.
    body_html: Mapped[str | None] = mapped_column(Text)
    #: The article's picture shown in digests: an https URL, its size in pixels when known,
    #: and the text that stands for it (checked by :func:`newsletter.images.clean_image`).
    image_url: Mapped[str | None] = mapped_column(String(2000))
    image_width: Mapped[int | None] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)
    image_alt: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[ArticleSource] = mapped_column(str_enum(ArticleSource))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feed.id"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digest.id"))
    #: Set: never put into a digest (see :class:`KeptOut`).
    kept_out: Mapped[KeptOut | None] = mapped_column(str_enum(KeptOut))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    feed: Mapped[Feed | None] = relationship()

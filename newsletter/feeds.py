"""Feeds: fetching RSS and Atom documents safely and importing their entries as articles.

A feed is input from elsewhere: it may be slow, huge, broken, not a feed at all or hostile.
:func:`fetch` speaks only http(s), reaches only public addresses (unless
FEED_ALLOW_PRIVATE_NETWORKS; see :mod:`newsletter.webclient`), gives up after
FEED_TIMEOUT_SECONDS without a byte and after twice that in all, reads at most FEED_MAX_BYTES,
and asks with the validators of the last import (ETag, Last-Modified) so an unchanged feed
costs a 304. :func:`parse` refuses documents that declare XML entities (entity expansion,
external entities). A document that is not well-formed (an HTML entity like ``&nbsp;``, a
blank line before ``<?xml``, a bare ``&``) is read by feedparser's tolerant parser, which
resolves no entity it is not told about and fetches nothing, and the poll says so in its
warnings, as it does for an encoding it had to detect and for dates it could not take as
written (:mod:`newsletter.feeddates`): an entry without a usable date is dated when first seen,
never in the future. On a feed's first import, entries older than FEED_BACKLOG_DAYS are kept
as articles but never mailed (the backlog).

:func:`poll` ties it together and, like the other services, flushes but never commits: the
caller commits once per feed, so a feed's articles and its ``last_result`` land together.
"""

from __future__ import annotations

import io
import logging
import re
import time
import urllib.error
import urllib.request
import xml.sax
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from http.client import HTTPException
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import articles, clock, feeddates, feedencoding, htmltext, images, webclient
from .articles import ArticleError, Outcome
from .extensions import db
from .models import ArticleSource, Feed, KeptOut

logger = logging.getLogger(__name__)

USER_AGENT = "newsletter-feed-reader/1.0"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
#: Entries imported per poll; feeds list the newest first, the rest would be an archive dump.
MAX_ENTRIES = 500
_CHUNK_BYTES = 64 * 1024
#: Size of Feed.title and Feed.last_result.
_FEED_TEXT_LENGTH = 500
#: An id with a URI scheme (``tag:``, ``urn:``, ``https:``) is meant to be unique worldwide;
#: other ids ("42") only within their feed, so they are prefixed with the feed's URL.
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: Encodings an XML document may use that feedparser reads (the UTF-8 test covers ASCII).
_UNICODE_CODECS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


class FeedError(Exception):
    """The feed could not be fetched or read; the message says why in a few words."""


@dataclass(frozen=True)
class Document:
    """A fetched feed document and the validators to send next time."""

    body: bytes
    url: str
    content_type: str
    etag: str | None
    modified: str | None


@dataclass(frozen=True)
class Entry:
    """One feed entry, ready for :func:`articles.save_article`."""

    guid: str
    title: str
    url: str
    summary: str | None
    body_html: str | None
    published_at: datetime | None
    image: images.ArticleImage | None = None
    #: Why ``published_at`` is None although the feed may have meant a date (a warning).
    date_problem: str | None = None


@dataclass(frozen=True)
class Parsed:
    """A parsed feed and what had to be guessed or repaired to read it."""

    data: feedparser.FeedParserDict
    warnings: list[str]


@dataclass
class PollResult:
    """What one poll of one feed did."""

    url: str
    error: str | None = None
    not_modified: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: New entries older than FEED_BACKLOG_DAYS on the feed's first import: never mailed.
    backlog: int = 0
    #: Entries left out, by reason.
    skipped: Counter[str] = field(default_factory=Counter)
    #: What was guessed or repaired: about the document, then per kind of entry problem.
    warnings: list[str] = field(default_factory=list)
    entry_problems: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.error is None

    def count(self, outcome: Outcome) -> None:
        if outcome is Outcome.CREATED:
            self.created += 1
        elif outcome is Outcome.UPDATED:
            self.updated += 1
        else:
            self.unchanged += 1

    def describe(self) -> str:
        if self.error is not None:
            return self.error
        if self.not_modified:
            return "not modified since the last import"
        text = f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged"
        if self.skipped:
            reasons = sorted(self.skipped.items())
            listed = ", ".join(f"{count} {reason}" for reason, count in reasons)
            text += f", {sum(self.skipped.values())} skipped ({listed})"
        if self.backlog:
            text += f"; {self.backlog} older than FEED_BACKLOG_DAYS kept as backlog (never mailed)"
        return text

    def all_warnings(self) -> list[str]:
        entries = [f"{count} {_entries(count)} {problem}" for problem, count in sorted(self.entry_problems.items())]
        return [*self.warnings, *entries]


def poll(url: str) -> PollResult:
    """Fetch the feed at ``url`` and save its entries as articles; flushes, never commits.

    The outcome, failures included, is returned and recorded on the feed's :class:`Feed` row
    (an address that is not http(s) is not polled and gets no row); nothing is raised for a
    broken feed. Call it with no transaction open on the session:
    the download happens before the session touches the database, so no lock is held while
    a slow server answers.
    """
    config = current_app.config
    url = url.strip()
    try:
        articles.clean_url(url)
    except ArticleError as exc:  # nothing was polled, so no Feed row is made for it
        message = f"not a feed address: {exc}"
        logger.warning("feed %r: %s", url, message)
        return PollResult(url=url, error=message)
    etag, modified = _validators(url)
    try:
        document = fetch(
            url,
            etag=etag,
            modified=modified,
            timeout=config["FEED_TIMEOUT_SECONDS"],
            max_bytes=config["FEED_MAX_BYTES"],
            allow_private=config["FEED_ALLOW_PRIVATE_NETWORKS"],
        )
        parsed = parse(document) if document is not None else None
    except FeedError as exc:
        return _record_failure(url, str(exc))
    feed = _feed_row(url)
    result = PollResult(url=url, not_modified=document is None)
    if document is not None and parsed is not None:
        result.warnings.extend(parsed.warnings)
        _import(feed, parsed.data, result)
        feed.last_warnings = "\n".join(result.all_warnings()) or None
        title = _text(parsed.data.feed.get("title"), parsed.data.feed.get("title_detail"))
        feed.title = htmltext.shorten(title, _FEED_TEXT_LENGTH) or None
        feed.etag = _fits(document.etag, 500)
        feed.modified = _fits(document.modified, 100)
    now = clock.now()
    feed.last_polled_at = now
    feed.last_ok_at = now
    feed.last_result = "ok"
    db.session.flush()
    logger.info("feed %r: %s", url, result.describe())
    for warning in result.all_warnings():
        logger.warning("feed %r: %s", url, warning)
    return result


def record_failure(url: str, message: str) -> None:
    """Note on the feed's row that its poll failed with ``message``; flushes."""
    if not url or len(url) > articles.MAX_URL_LENGTH:
        return
    feed = _feed_row(url)
    feed.last_polled_at = clock.now()
    feed.last_result = htmltext.shorten(message, _FEED_TEXT_LENGTH)
    db.session.flush()


def _record_failure(url: str, message: str) -> PollResult:
    logger.warning("feed %r: %s", url, message)
    record_failure(url, message)
    return PollResult(url=url, error=message)


def fetch(
    url: str,
    *,
    etag: str | None,
    modified: str | None,
    timeout: float,
    max_bytes: int,
    allow_private: bool = False,
) -> Document | None:
    """GET ``url``; None if the server says it has not changed since ``etag``/``modified``.

    Every host on the way (redirects included) must have only public addresses unless
    ``allow_private``; one step may wait ``timeout``, the whole download twice that.

    :raises FeedError: for anything but a complete 2xx answer within the limits.
    """
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    limits = webclient.Limits(
        allow_private=allow_private, timeout=timeout, deadline=time.monotonic() + 2 * timeout
    )
    try:
        request = urllib.request.Request(url, headers=headers)
        with _opener(limits).open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise FeedError(f"the feed is larger than {_size(max_bytes)}")
            body = _read(response, max_bytes)
            if length.isdigit() and len(body) != int(length):
                raise FeedError("the download was cut short")  # http.client does not say so
            body = _decompress(body, response.headers.get("Content-Encoding", ""), max_bytes)
            return Document(
                body=body,
                url=response.geturl(),
                content_type=response.headers.get("Content-Type", ""),
                etag=response.headers.get("ETag"),
                modified=response.headers.get("Last-Modified"),
            )
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            return None
        raise FeedError(f"the server answered HTTP {exc.code} {exc.reason}".rstrip()) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise FeedError(_timed_out(exc.reason, timeout)) from None
        raise FeedError(f"cannot connect: {_reason(exc.reason)}") from None
    except TimeoutError as exc:
        raise FeedError(_timed_out(exc, timeout)) from None
    except webclient.Refused as exc:
        raise FeedError(str(exc)) from None
    except (OSError, HTTPException, ValueError) as exc:
        raise FeedError(f"the download failed: {_reason(exc)}") from None


def parse(document: Document) -> Parsed:
    """The feed in ``document``, parsed by feedparser, with what had to be guessed to read it.

    :raises FeedError: if it declares XML entities or is not RSS/Atom even to the tolerant parser.
    """
    if _declares_entities(document.body):
        raise FeedError("the document declares XML entities (refused: entity expansion attack)")
    decoded = feedencoding.to_utf8(document.body, document.content_type)
    try:
        parsed = feedparser.parse(
            io.BytesIO(decoded.body),  # bytes would be taken for a file name to open
            response_headers={
                "content-type": decoded.content_type,
                "content-location": document.url,
            },
        )
    except Exception as exc:  # a parser bug triggered by odd input is still just a bad feed
        raise FeedError(f"the document could not be parsed ({type(exc).__name__})") from exc
    if not parsed.get("version"):
        hint = " (the server sent an HTML page)" if "html" in document.content_type.lower() else ""
        raise FeedError(f"the document is not an RSS or Atom feed{hint}")
    warnings = [decoded.warning] if decoded.warning else []
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe):
        warnings.append(f"the feed is not well-formed XML: {_xml_problem(problem)}; read by the tolerant parser")
    return Parsed(parsed, warnings)


def entry_from(raw: feedparser.FeedParserDict, feed_url: str) -> Entry | None:
    """The article data of one parsed entry; None if it has no title or no link.

    :raises ArticleError: if its link is not an http(s) URL or a field is too long.
    """
    title = _text(raw.get("title"), raw.get("title_detail"))
    link = (raw.get("link") or "").strip()
    if not title or not link:
        return None
    url = articles.clean_url(link)
    entry_id = (raw.get("id") or "").strip()
    if not entry_id:
        guid = url
    elif _URI_SCHEME.match(entry_id):
        guid = entry_id
    else:
        guid = f"{feed_url}#{entry_id}"
    summary_detail = raw.get("summary_detail") or _first(raw.get("content"))
    summary = _text(raw.get("summary"), summary_detail, multiline=True)
    return Entry(
        guid=guid,
        title=htmltext.shorten(title, articles.MAX_TITLE_LENGTH),
        url=url,
        summary=htmltext.shorten(summary, articles.MAX_SUMMARY_LENGTH) or None,
        body_html=_body_html(raw.get("content")),
        image=images.from_feed_entry(raw),
        **_published(raw),
    )


def _published(raw: feedparser.FeedParserDict) -> dict:
    """``published_at`` of an entry (None: dated when first seen) and, if so, ``date_problem``."""
    # dict.get: feedparser maps a missing "updated" to "published" with a DeprecationWarning.
    written = dict.get(raw, "published") or dict.get(raw, "updated")
    if not written:
        return {"published_at": None, "date_problem": "without a date: dated when first seen"}
    moment = feeddates.parse(written, ZoneInfo(current_app.config["TIMEZONE"]))
    if moment is None:
        moment = _time(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed"))
    if moment is None or not clock.holdable(moment):
        return {"published_at": None, "date_problem": "with a date not understood: dated when first seen"}
    if moment > clock.now():
        return {"published_at": None, "date_problem": "dated in the future: dated when first seen"}
    return {"published_at": moment.astimezone(UTC)}


def _import(feed: Feed, parsed: feedparser.FeedParserDict, result: PollResult) -> None:
    seen: set[str] = set()
    backlog_before = _backlog_before(feed)
    raw_entries = parsed.get("entries", [])
    if len(raw_entries) > MAX_ENTRIES:
        result.skipped[f"beyond the first {MAX_ENTRIES}"] = len(raw_entries) - MAX_ENTRIES
    for raw in raw_entries[:MAX_ENTRIES]:
        try:
            entry = entry_from(raw, feed.url)
        except ArticleError as exc:
            name = raw.get("id") or raw.get("link")
            logger.info("feed %r: entry %r skipped: %s", feed.url, name, exc)
            result.skipped["invalid"] += 1
            continue
        if entry is None:
            result.skipped["without title or link"] += 1
            continue
        if entry.guid in seen:
            result.skipped["repeated"] += 1
            continue
        seen.add(entry.guid)
        try:
            saved = articles.save_article(
                guid=entry.guid,
                title=entry.title,
                url=entry.url,
                summary=entry.summary,
                body_html=entry.body_html,
                published_at=entry.published_at,
                image=entry.image,
                source=ArticleSource.FEED,
                feed=feed,
            )
        except ArticleError as exc:
            logger.info("feed %r: entry %r skipped: %s", feed.url, entry.guid, exc)
            result.skipped["invalid"] += 1
            continue
        result.count(saved.outcome)
        if entry.date_problem and saved.outcome is Outcome.CREATED:
            result.entry_problems[entry.date_problem] += 1
        if saved.outcome is Outcome.CREATED and _is_backlog(entry, backlog_before):
            saved.article.kept_out = KeptOut.BACKLOG
            result.backlog += 1


def _backlog_before(feed: Feed) -> datetime | None:
    """On a feed's first import, the time before which its entries are backlog; else None."""
    if feed.last_ok_at is not None:
        return None
    return clock.now() - timedelta(days=current_app.config["FEED_BACKLOG_DAYS"])


def _is_backlog(entry: Entry, before: datetime | None) -> bool:
    return before is not None and entry.published_at is not None and entry.published_at < before


def _validators(url: str) -> tuple[str | None, str | None]:
    # A connection of its own, returned at once: a session transaction begun here would stay
    # open (and on SQLite hold the write lock) for the whole download.
    with db.engine.connect() as connection:
        row = connection.execute(select(Feed.etag, Feed.modified).where(Feed.url == url)).first()
    return (row.etag, row.modified) if row is not None else (None, None)


def _feed_row(url: str) -> Feed:
    feed = db.session.execute(select(Feed).filter_by(url=url)).scalar_one_or_none()
    if feed is not None:
        return feed
    feed = Feed(url=url)
    try:
        with db.session.begin_nested():
            db.session.add(feed)
    except IntegrityError:  # another worker polled it for the first time just now
        feed = db.session.execute(select(Feed).filter_by(url=url)).scalar_one()
    return feed


class _WebRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) addresses only; urllib's own handler also follows ftp://."""

    def http_error_302(self, req, fp, code, msg, headers):
        target = urljoin(req.full_url, headers.get("Location") or headers.get("URI") or "")
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            fp.close()
            raise FeedError(f"the server redirected to a non-web address: {target[:200]}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(limits: webclient.Limits) -> urllib.request.OpenerDirector:
    return webclient.opener(limits, _WebRedirects())


def _read(response, max_bytes: int) -> bytes:
    # Every read is bounded by the timeout and the deadline (webclient.Limits.bounded).
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read(min(_CHUNK_BYTES, max_bytes + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise FeedError(f"the feed is larger than {_size(max_bytes)}")
    return b"".join(chunks)


def _decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise FeedError(f"the server used an unsupported Content-Encoding: {encoding[:50]}")
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise FeedError("the compressed feed is corrupt") from exc
    if len(data) > max_bytes:
        raise FeedError(f"the feed is larger than {_size(max_bytes)} uncompressed")
    if not decompressor.eof:
        raise FeedError("the compressed feed is incomplete")
    return data


def _declares_entities(body: bytes) -> bool:
    """Whether the document's DTD declares entities, in whichever Unicode encoding it uses."""
    for codec in _UNICODE_CODECS:
        if "<!ENTITY".encode(codec) not in body:
            continue
        text = body.decode(codec, errors="ignore")
        root = re.search(r"<[^?!]", text)  # the first element: no declaration may follow it
        declaration = text.find("<!ENTITY")
        if declaration != -1 and (root is None or declaration < root.start()):
            return True
    return False


def _text(value: str | None, detail, *, multiline: bool = False) -> str:
    """Plain text of a title or summary, whatever type the feed declared for it."""
    if not value:
        return ""
    kind = (detail or {}).get("type", "text/html")
    text = htmltext.html_to_text(value) if "html" in kind else htmltext.tidy(value)
    return text if multiline else htmltext.one_line(text)


def _body_html(contents) -> str | None:
    content = _first(contents)
    if not content or not content.get("value"):
        return None
    if "html" in content.get("type", "text/html"):
        return content["value"]
    return escape(content["value"])


def _first(items):
    return items[0] if items else None


def _time(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's UTC struct_time as an aware datetime; None if absent, impossible or
    beyond the years the service holds (then the entry counts as published now)."""
    if parsed is None:
        return None
    try:
        moment = datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    return moment if clock.holdable(moment) else None


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


def _fits(value: str | None, length: int) -> str | None:
    # A cut validator would never match again; better none than a wrong one.
    return value if value is not None and len(value) <= length else None


def _timed_out(error: TimeoutError, timeout: float) -> str:
    if isinstance(error, webclient.DeadlinePassed):
        return f"the download took longer than {2 * timeout:g} seconds"
    return f"no answer within {timeout:g} seconds"


def _reason(error: object) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = str(getattr(error, "strerror", None) or error) or type(error).__name__
    return text[:200]


def _xml_problem(problem: object) -> str:
    if isinstance(problem, xml.sax.SAXParseException):
        where = f"line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        return f"{problem.getMessage()} ({where})"
    return str(problem)[:200] or type(problem).__name__


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:g} MiB" if count >= 1024 * 1024 else f"{count} bytes"

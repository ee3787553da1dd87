"""An article's picture: the rules it must meet, and where a feed entry names one.

Pure helpers, without app or database. A picture goes into mails, so only https URLs are
kept (a mail client fetches it in the open, and mixed content is blocked by many), with its
size when the source says it, and a text that stands for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
MAX_ALT_LENGTH = 500
#: Larger sizes are not believed (and would not fit the column anyway).
MAX_SIDE = 10_000
#: Smaller pictures are tracking pixels or icons, not an article's picture.
MIN_SIDE = 16
#: Control characters and line breaks: never part of a URL or an alt text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ImageError(ValueError):
    """The picture cannot be used as given; the message says why."""


@dataclass(frozen=True)
class ArticleImage:
    url: str
    width: int | None = None
    height: int | None = None
    alt: str | None = None

    def shown(self, column: int) -> tuple[int, int | None]:
        """(width, height) in pixels for a column ``column`` wide: never wider than the
        column, the height scaled along, None when the source did not say it."""
        if self.width is None:
            return column, None
        width = min(self.width, column)
        if self.height is None:
            return width, None
        return width, max(1, round(self.height * width / self.width))


def clean_image(url: str | None, width=None, height=None, alt: str | None = None) -> ArticleImage | None:
    """The picture at ``url`` (https only) with its size and alt text; None without a URL.

    :raises ImageError: the URL is not an absolute https URL, a size is not a whole number
        of pixels, or the alt text is not one line.
    """
    url = (url or "").strip()
    if not url:
        return None
    if len(url) > MAX_URL_LENGTH:
        raise ImageError(f"the image URL is longer than {MAX_URL_LENGTH} characters")
    if any(char.isspace() for char in url) or _CONTROL.search(url):
        raise ImageError("the image URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (ValueError for a port that is not a number)
    except ValueError as exc:
        raise ImageError(f"the image URL {url!r} cannot be read") from exc
    if parts.scheme.lower() != "https" or not host:
        raise ImageError(f"the image URL must be an https:// address, got {url!r}")
    alt = " ".join((alt or "").split())
    if _CONTROL.search(alt):
        raise ImageError("the image's alt text must not contain control characters")
    if len(alt) > MAX_ALT_LENGTH:
        raise ImageError(f"the image's alt text is longer than {MAX_ALT_LENGTH} characters")
    return ArticleImage(url=url, width=_side(width), height=_side(height), alt=alt or None)


def _side(value) -> int | None:
    """A size in pixels as a feed or form gives it ("600", "600px", 600); None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip().lower().removesuffix("px")
    if not text.isascii() or not text.isdigit():
        return None
    side = int(text)
    return side if 0 < side <= MAX_SIDE else None


def from_feed_entry(entry) -> ArticleImage | None:
    """The picture a feedparser entry names, the first usable one in this order:
    ``media:content`` (an image), ``media:thumbnail``, an image enclosure, the first ``<img>``
    of the content (or of the summary). Only https pictures are usable."""
    for candidate in _candidates(entry):
        try:
            image = clean_image(*candidate)
        except ImageError:
            continue
        if image is not None and not _tiny(image):
            return image
    return None


def _tiny(image: ArticleImage) -> bool:
    return any(side is not None and side < MIN_SIDE for side in (image.width, image.height))


def _candidates(entry):
    """(url, width, height, alt) tuples in the order of preference."""
    for media in entry.get("media_content") or ():
        medium = (media.get("medium") or "").lower()
        kind = (media.get("type") or "").lower()
        if medium == "image" or kind.startswith("image/") or (not medium and not kind):
            yield media.get("url"), media.get("width"), media.get("height"), None
    for thumbnail in entry.get("media_thumbnail") or ():
        yield thumbnail.get("url"), thumbnail.get("width"), thumbnail.get("height"), None
    for enclosure in entry.get("enclosures") or ():
        if (enclosure.get("type") or "").lower().startswith("image/"):
            yield enclosure.get("href"), None, None, None
    for content in [*(entry.get("content") or ()), entry.get("summary_detail") or {}]:
        if "html" in (content.get("type") or ""):
            for img in imgs(content.get("value") or ""):
                yield img.get("src"), img.get("width"), img.get("height"), img.get("alt")


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "img":
            found = {name: value for name, value in attrs if value is not None}
            if found.get("src"):
                self.found.append(found)

    handle_startendtag = handle_starttag


def imgs(html: str) -> list[dict[str, str]]:
    """The attributes of each ``<img>`` with a ``src`` in ``html``, in document order."""
    parser = _Images()
    parser.feed(html)
    parser.close()
    return parser.found

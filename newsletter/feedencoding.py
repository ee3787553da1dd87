"""The character encoding of a feed document: the declared one where it fits, else detected.

Feeds in the wild declare no encoding (and XML then means UTF-8), or declare the wrong one
(a UTF-8 feed labelled ISO-8859-1 by a server's default). Read as declared, such a feed is
imported garbled and nobody is told. :func:`to_utf8` keeps every declaration that fits the
bytes, and otherwise lets charset-normalizer find the encoding, hands the document on as
UTF-8 and says what it did. A pure helper: no app, no database.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

#: Byte order marks and the UTF-16/32 patterns of "<?": XML that names its own Unicode form.
_UNICODE_STARTS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"\x00<", b"<\x00")
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)


@dataclass(frozen=True)
class Decoded:
    """The document to parse, its Content-Type, and what was guessed (None: nothing)."""

    body: bytes
    content_type: str
    warning: str | None = None


def to_utf8(body: bytes, content_type: str) -> Decoded:
    """``body`` as UTF-8, read in its declared encoding (the Content-Type's charset, else the
    XML declaration's) where that fits, else in the one detected; an ASCII document or one
    that names its Unicode form by its first bytes is left as it is."""
    if body.startswith(_UNICODE_STARTS) or body.isascii():
        return Decoded(body, content_type)
    declared = _declared(body, content_type)
    if _decodes(body, "utf-8"):
        # Valid UTF-8 with non-ASCII bytes is almost never legacy text by chance.
        warning = None if declared in (None, "utf-8") else f"the feed declares {declared} but is UTF-8; read as UTF-8"
        return _as_utf8(body.decode("utf-8"), content_type, warning)
    if declared not in (None, "utf-8") and _decodes(body, declared):
        return _as_utf8(body.decode(declared), content_type, None)
    detected = _detect(body)
    if detected is None:
        return Decoded(body, content_type)  # feedparser's own fallbacks, and its warning
    encoding, text = detected
    said = f"declares {declared} but is not" if declared else "declares no encoding"
    return _as_utf8(text, content_type, f"the feed {said}; read as {encoding} (detected)")


def _declared(body: bytes, content_type: str) -> str | None:
    """The declared encoding's Python name: the HTTP charset first (RFC 7303), else the XML
    declaration's; None when neither names one Python knows."""
    match = _CHARSET_PARAM.search(content_type) or _XML_ENCODING.match(body[:500])
    if match is None:
        return None
    name = match.group(1)
    name = name.decode("ascii") if isinstance(name, bytes) else name
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _detect(body: bytes) -> tuple[str, str] | None:
    best = from_bytes(body).best()
    if best is None:
        return None
    return codecs.lookup(best.encoding).name, str(best)


def _as_utf8(text: str, content_type: str, warning: str | None) -> Decoded:
    body = text.encode("utf-8")
    match = _XML_ENCODING.match(body[:500])
    if match is not None:
        body = body[: match.start(1)] + b"utf-8" + body[match.end(1) :]
    media_type = content_type.split(";", 1)[0].strip() or "application/xml"
    return Decoded(body, f"{media_type}; charset=utf-8", warning)

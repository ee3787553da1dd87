"""Building mails: render a template triplet once, then write one message per recipient.

Every mail is UTF-8 multipart/alternative with a text/plain and a text/html part (CSS inlined),
and carries From, To, Date, Message-ID and Subject (SPEC §6). Templates live in
``templates/email/<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``.

A digest goes to many readers and differs between them only in a few values (their address,
their links). It is rendered once with the markers of its :class:`Slots` in place of those
values; :meth:`Content.filled` puts each reader's values in, and :func:`build_message` writes the
message bytes directly (headers verbatim, parts in base64) rather than through
``email.message``, which costs far more per message than the rest of the send.
"""

from __future__ import annotations

import binascii
import re
import secrets
import textwrap
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email import policy
from email.utils import format_datetime, formataddr, parseaddr
from functools import cached_property, lru_cache

from flask import current_app, render_template
from flask_babel import force_locale
from markupsafe import escape

from .. import addresses, publisher
from .links import external_url


@lru_cache(maxsize=1)
def _css_inliner():
    """The CSS inliner, made on first use: web workers seldom render a mail (an admin's
    preview), and its library costs each process about 3 MiB (issue 16)."""
    import css_inline

    return css_inline.CSSInliner(keep_style_tags=True)


#: RFC 5322 §2.1.1: a header line is at most 998 characters, and should be at most 78.
_MAX_LINE = 998
_FOLD_AT = 78
#: Folds header values as RFC 5322 and RFC 2047 say: lines of at most 78 characters with the
#: header's name, only the words beyond ASCII as encoded words, so an address or an id in angle
#: brackets stays readable to filters. At 76, not 78: the email package fills a folded line with
#: one encoded word, and RFC 2047 allows at most 75 characters for that word.
_FOLDING = policy.SMTP.clone(max_line_length=76)
#: Text parts are wrapped at this width (the templates wrap with the same number).
TEXT_WIDTH = 72


class Slots:
    """The per-recipient slots of one rendering: markers that survive HTML escaping and CSS
    inlining, and carry a random key of this rendering only.

    Text from outside (an article's title, summary or URL) goes into the same rendering, so
    a marker must be impossible to write there: whatever it holds, even a marker of another
    rendering, stays plain text, and a reader's values go only where the template put one
    of these. The key never leaves the process (every slot is filled before a mail goes out).
    """

    __slots__ = ("_key", "pattern")

    def __init__(self) -> None:
        self._key = secrets.token_hex(16)
        #: Finds this rendering's markers; group 1 is the slot's name.
        self.pattern = re.compile(rf"@@nl-{self._key}-([a-z_]+)@@")

    def marker(self, name: str) -> str:
        """Where the template puts the value ``name`` (``[a-z_]+``)."""
        return f"@@nl-{self._key}-{name}@@"


@dataclass(frozen=True)
class Content:
    """A rendered mail; with ``slots``, the markers of those slots still in it."""

    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)
    slots: Slots | None = field(default=None, compare=False, repr=False)
    #: The encoded start of the text and HTML parts where it is the same in every mail filled
    #: from one rendering (set by :meth:`filled`); :func:`build_message` encodes only the rest.
    shared_starts: tuple[_SharedStart | None, _SharedStart | None] = field(
        default=(None, None), compare=False, repr=False
    )

    def filled(self, values: Mapping[str, str], html_values: Mapping[str, str] | None = None) -> Content:
        """This content with every slot filled: plain in the text, escaped in the HTML.

        :param html_values: values that differ in the HTML part (already escaped there).
        :raises KeyError: a slot has no value (it would leak the rendering's marker).
        """
        shown = {name: str(escape(value)) for name, value in values.items()}
        shown.update(html_values or {})
        template = self._template
        return replace(
            self,
            text=template.text.fill(values),
            html=template.html.fill(shown),
            headers={key: header.fill(values) for key, header in template.headers.items()},
            shared_starts=template.shared_starts,
        )

    @cached_property
    def _template(self) -> _Template:
        return _Template(self)


class _Template:
    """A rendering split at its markers once, for the many readers it is filled for."""

    def __init__(self, content: Content) -> None:
        marker = content.slots.pattern if content.slots is not None else _NO_MARKER
        self.text = _FillableText(content.text, marker)
        self.html = _Fillable(content.html, marker)
        self.headers = {key: _Fillable(value, marker) for key, value in content.headers.items()}
        self.shared_starts = (_SharedStart.of(self.text.start), _SharedStart.of(self.html.start))


#: Matches nothing: a content without slots is the same for every reader.
_NO_MARKER = re.compile(r"(?!)")


class _Fillable:
    """A string split at the markers of its :class:`Slots`; :meth:`fill` joins it with values."""

    __slots__ = ("_parts",)

    def __init__(self, source: str, marker: re.Pattern) -> None:
        #: literal, name, literal, name, …, literal
        self._parts = marker.split(source)

    @property
    def start(self) -> str:
        """The text before the first marker."""
        return self._parts[0]

    def fill(self, values: Mapping[str, str]) -> str:
        parts = self._parts
        if len(parts) == 1:
            return parts[0]
        filled = parts.copy()
        for index in range(1, len(parts), 2):
            filled[index] = values[parts[index]]
        return "".join(filled)


class _FillableText:
    """A text part whose lines with markers are wrapped again once filled (a value can make a
    line longer than TEXT_WIDTH); the other lines were wrapped when rendered."""

    __slots__ = ("_chunks", "start")

    def __init__(self, source: str, marker: re.Pattern) -> None:
        #: runs of lines without markers (one string each), and single lines with markers
        self._chunks: list[str | _Fillable] = []
        plain: list[str] = []
        for line in source.split("\n"):
            if marker.search(line):
                if plain:
                    self._chunks.append("\n".join(plain))
                    plain = []
                self._chunks.append(_Fillable(line, marker))
            else:
                plain.append(line)
        if plain:
            self._chunks.append("\n".join(plain))
        match = marker.search(source)
        self.start = source[: match.start()] if match else source

    def fill(self, values: Mapping[str, str]) -> str:
        return "\n".join(
            chunk if isinstance(chunk, str) else _rewrap(chunk.fill(values)) for chunk in self._chunks
        )


def _rewrap(text: str, slots: Slots | None = None) -> str:
    """Wrap lines longer than TEXT_WIDTH as format=flowed (RFC 3676): a soft break is a space
    before the line end, so a reader's program may flow the paragraph again to its width.

    Lines with a URL stay whole, and so do lines with a slot (wrapped once filled)."""
    lines = text.split("\n")
    if max(map(len, lines)) <= TEXT_WIDTH:
        return text
    return "\n".join(
        line if len(line) <= TEXT_WIDTH or "://" in line or (slots is not None and slots.pattern.search(line))
        else _wrapped(line).replace("\n", " \n")  # soft breaks of format=flowed
        for line in lines
    )


#: Whitespace that textwrap does not treat as a space between words.
_OTHER_WHITESPACE = re.compile(r"[\t\n\x0b\x0c\r]")


def _wrapped(line: str) -> str:
    """``textwrap.fill(line, TEXT_WIDTH)``, keeping words whole and hyphens where they are.

    This runs for every reader whose values make a line too long, so the usual line (words
    separated by single spaces; a no-break space, as in Babel's dates, is part of a word) is
    wrapped here directly, about five times faster than textwrap; a line with runs of spaces,
    spaces at its ends, other whitespace or words of whitespace only goes to textwrap, which
    defines the result (tests/test_mail.py checks that both agree)."""
    words = line.split(" ")
    if _OTHER_WHITESPACE.search(line) or not all(word.strip() for word in words):
        return textwrap.fill(line, TEXT_WIDTH, break_long_words=False, break_on_hyphens=False)
    lines, current = [], words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) <= TEXT_WIDTH:
            current = f"{current} {word}"
        else:
            lines.append(current)
            current = word
    lines.append(current)
    return "\n".join(lines)


#: RFC 3676 §4.3: the signature separator, the one line that ends in a space but is not flowed.
SIGNATURE_SEPARATOR = "-- "


def _hard_lines(text: str) -> str:
    """``text`` as fixed lines for format=flowed: no trailing spaces (they would mark soft
    breaks) but on the signature separator, and lines that would be read as quoted or
    space-stuffed (starting with ``>``, a space or ``From ``) stuffed with a space (§4.4)."""
    lines = []
    for line in text.split("\n"):
        if line != SIGNATURE_SEPARATOR:
            line = line.rstrip()
        if line.startswith((" ", ">", "From ")):
            line = " " + line
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class RawMail:
    """One message as it goes over the wire."""

    sender: str
    recipient: str
    message_id: str
    data: bytes
    #: Every line of ``data`` ends in CRLF and no CR or LF stands alone, as :func:`build_message`
    #: makes them (header lines checked, bodies in base64): the SMTP client need not look again.
    #: A message from anywhere else is normalised before it goes.
    crlf_only: bool = False


def render(name: str, locale: str, *, slots: Slots | None = None, **context) -> Content:
    """Render the ``email/<name>`` triplet in ``locale``; ``slots``: the per-recipient slots
    whose markers ``context`` holds (fill them with :meth:`Content.filled`)."""
    _add_site(context)
    with force_locale(locale):
        subject = " ".join(render_template(f"email/{name}.subject.txt", **context).split())
        text = render_template(f"email/{name}.txt", **context)
        html = render_template(f"email/{name}.html", locale=locale, subject=subject, **context)
    return Content(
        subject=subject,
        text=_rewrap(_hard_lines(text.strip()) + "\n", slots),
        html=_css_inliner().inline(html),
        slots=slots,
    )


def render_subject(name: str, locale: str, **context) -> str:
    """Render only the subject line of ``email/<name>`` in ``locale``."""
    _add_site(context)
    with force_locale(locale):
        return " ".join(render_template(f"email/{name}.subject.txt", **context).split())


def _add_site(context: dict) -> None:
    """Who sends the mail, for its footer: the publisher, and the privacy notice's address."""
    found = publisher.current()
    context.setdefault("publisher", found)
    context.setdefault("site_name", found.name)
    context.setdefault("privacy_url", found.privacy_url or external_url("public.privacy"))


@lru_cache(maxsize=8)
def _sender(configured: str) -> tuple[str, str]:
    """(From header value, envelope address) of MAIL_DEFAULT_SENDER."""
    name, address = parseaddr(configured)
    return formataddr((name, address), charset="utf-8"), address


def sender_address() -> str:
    return _sender(current_app.config["MAIL_DEFAULT_SENDER"])[1]


def sender_domain() -> str:
    return sender_address().rpartition("@")[2] or "localhost"


def make_msgid(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def build_message(content: Content, to: str, *, date: datetime, message_id: str | None = None) -> RawMail:
    """The wire form of ``content`` for the address ``to``.

    :raises ValueError: a header value contains a line break, or a line would be too long.
    """
    to = addresses.wire_address(to)
    from_header, address = _sender(current_app.config["MAIL_DEFAULT_SENDER"])
    message_id = message_id or make_msgid(address.rpartition("@")[2] or "localhost")
    headers = {
        "From": from_header,
        "To": to,
        "Date": _date_header(date),
        "Message-ID": message_id,
        "Subject": _encoded("Subject", content.subject),
        **{key: _encoded(key, value) for key, value in content.headers.items()},
        "MIME-Version": "1.0",
    }
    boundary = f"=_{uuid.uuid4().hex}"
    lines = [_header_line(key, value) for key, value in headers.items()]
    lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
    head = "\r\n".join(lines).encode("ascii")
    body = b"".join(
        [
            f"\r\n\r\n--{boundary}\r\n".encode(),
            _part("plain", content.text, content.shared_starts[0]),
            f"\r\n--{boundary}\r\n".encode(),
            _part("html", content.html, content.shared_starts[1]),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return RawMail(sender=address, recipient=to, message_id=message_id, data=head + body, crlf_only=True)


@lru_cache(maxsize=8)
def _date_header(date: datetime) -> str:
    return format_datetime(date)


@lru_cache(maxsize=256)
def _encoded(name: str, value: str) -> str:
    """A header value as ASCII, folded where its line would pass 78 characters: as it is when
    it fits, else the words beyond ASCII as RFC 2047 encoded words. A value without spaces
    (a URL in angle brackets) cannot be folded and stays one line."""
    if value.isascii() and (len(name) + 2 + len(value) <= _FOLD_AT or " " not in value):
        return value
    folded = _FOLDING.header_factory(name, value).fold(policy=_FOLDING)
    value = folded[len(name) + 1 :].rstrip("\r\n").replace("\r\n", "\n")
    # The folding may break right after the colon (the value does not fit beside the name):
    # that break is kept, as a value starting with "\n ".
    return value if value.startswith("\n") else value.removeprefix(" ")


@lru_cache(maxsize=1024)  # most header lines are the same in every mail of a send
def _header_line(name: str, value: str) -> str:
    lines = value.split("\n")  # folded values continue with "\n " lines
    if "\r" in value or any(not line.startswith((" ", "\t")) for line in lines[1:]):
        raise ValueError(f"line break in the {name} header")
    if len(name) + 2 + max(len(line) for line in lines) > _MAX_LINE:
        raise ValueError(f"the {name} header is longer than {_MAX_LINE} characters")
    return (f"{name}:" if value.startswith("\n") else f"{name}: ") + "\r\n".join(lines)


#: The parts' headers; the text is format=flowed (see :func:`_rewrap`).
_PART_HEADS = {
    subtype: f"Content-Type: text/{subtype}; charset=utf-8{parameters}\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n".encode()
    for subtype, parameters in (("plain", "; format=flowed; delsp=no"), ("html", ""))
}


def _part(subtype: str, text: str, shared_start: _SharedStart | None = None) -> bytes:
    head = _PART_HEADS[subtype]
    if shared_start is not None and (body := shared_start.encode(text)) is not None:
        return head + body
    return head + _base64_lines(_wire_text(text))


def _wire_text(text: str) -> bytes:
    """``text`` in UTF-8 with CRLF line ends, ending with one."""
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return text.replace("\n", "\r\n").encode("utf-8")


#: RFC 2045 §6.8: encoded lines of at most 76 characters, each 57 bytes of the input.
_BASE64_LINE = 76
_BASE64_LINE_INPUT = 57


def _base64_lines(data: bytes) -> bytes:
    """``data`` in base64, in lines of 76 characters separated by CRLF (one C call for the
    encoding; ``base64.encodebytes`` makes one per 57 bytes). No line can start with a dot."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join([encoded[start : start + _BASE64_LINE] for start in range(0, len(encoded), _BASE64_LINE)])


class _SharedStart:
    """The base64 lines of a part's start that every mail of a rendering shares.

    Base64 turns each 57 input bytes into one 76-character line on its own, so the lines for
    the first whole multiple of 57 bytes of the shared start are the same in every mail and
    are encoded once; per mail only the rest is (a digest's readers differ at its end).
    """

    __slots__ = ("_start", "_rest_of_start", "_lines")

    def __init__(self, start: str, whole: int, data: bytes) -> None:
        self._start = start
        self._rest_of_start = data[whole:]
        self._lines = _base64_lines(data[:whole]) + b"\r\n"

    @classmethod
    def of(cls, start: str) -> _SharedStart | None:
        if "\r" in start:  # keep line-end normalisation from meeting a CR at the boundary
            return None
        data = start.replace("\n", "\r\n").encode("utf-8")
        whole = len(data) // _BASE64_LINE_INPUT * _BASE64_LINE_INPUT
        return cls(start, whole, data) if whole else None

    def encode(self, text: str) -> bytes | None:
        """The part's body for ``text``; None when ``text`` does not begin with this start."""
        if not text.startswith(self._start) or len(text) == len(self._start):
            return None
        rest = text[len(self._start) :]
        return self._lines + _base64_lines(self._rest_of_start + _wire_text(rest))

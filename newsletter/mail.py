"""Building mails: render a template triplet once, then write one message per recipient.

Every mail is UTF-8 multipart/alternative with a text/plain and a text/html part (CSS inlined),
and carries From, To, Date, Message-ID and Subject (SPEC §6). Templates live in
``templates/email/<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``.

A digest goes to many readers and differs between them only in a few values (their address,
their links). It is rendered once with :func:`placeholder` markers in place of those values;
:meth:`Content.filled` puts each reader's values in, and :func:`build_message` writes the
message bytes directly (headers verbatim, parts in base64) rather than through
``email.message``, which costs far more per message than the rest of the send.
"""

from __future__ import annotations

import base64
import textwrap
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

import css_inline
from flask import current_app, render_template
from flask_babel import force_locale
from markupsafe import escape

_inliner = css_inline.CSSInliner(keep_style_tags=True)

#: RFC 5322 §2.1.1: a header line is at most 998 characters.
_MAX_LINE = 998
#: Text parts are wrapped at this width (the templates wrap with the same number).
TEXT_WIDTH = 72


def placeholder(name: str) -> str:
    """A marker that survives HTML escaping and CSS inlining, replaced per recipient."""
    return f"@@nl-{name}@@"


@dataclass(frozen=True)
class Content:
    """A rendered mail, possibly with :func:`placeholder` markers still in it."""

    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)

    def filled(self, values: Mapping[str, str], html_values: Mapping[str, str] | None = None) -> Content:
        """This content with every marker replaced: plain in the text, escaped in the HTML.

        :param html_values: values that differ in the HTML part (already escaped there).
        """
        text, html, headers = self.text, self.html, dict(self.headers)
        for name, value in values.items():
            marker = placeholder(name)
            text = text.replace(marker, value)
            shown = html_values[name] if html_values and name in html_values else str(escape(value))
            html = html.replace(marker, shown)
            headers = {key: header.replace(marker, value) for key, header in headers.items()}
        return replace(self, text=_rewrap(text), html=html, headers=headers)


def _rewrap(text: str) -> str:
    """Wrap lines longer than TEXT_WIDTH (a template's long paragraph, or one a filled-in value
    made longer); lines with a URL stay whole."""
    if all(len(line) <= TEXT_WIDTH for line in text.split("\n")):
        return text
    return "\n".join(
        line if len(line) <= TEXT_WIDTH or "://" in line
        else textwrap.fill(line, TEXT_WIDTH, break_long_words=False, break_on_hyphens=False)
        for line in text.split("\n")
    )


@dataclass(frozen=True)
class RawMail:
    """One message as it goes over the wire."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


def render(name: str, locale: str, **context) -> Content:
    """Render the ``email/<name>`` triplet in ``locale``."""
    _add_site(context)
    with force_locale(locale):
        subject = render_template(f"email/{name}.subject.txt", **context)
        text = render_template(f"email/{name}.txt", **context)
        html = render_template(f"email/{name}.html", locale=locale, **context)
    return Content(subject=" ".join(subject.split()), text=_rewrap(text.strip() + "\n"), html=_inliner.inline(html))


def render_subject(name: str, locale: str, **context) -> str:
    """Render only the subject line of ``email/<name>`` in ``locale``."""
    _add_site(context)
    with force_locale(locale):
        return " ".join(render_template(f"email/{name}.subject.txt", **context).split())


def _add_site(context: dict) -> None:
    context.setdefault("site_name", current_app.config["SITE_NAME"])
    context.setdefault("site_address", current_app.config["SITE_ADDRESS"])


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
    """The wire form of ``content`` for the (ASCII) address ``to``.

    :raises ValueError: a header value contains a line break, or a line would be too long.
    """
    from_header, address = _sender(current_app.config["MAIL_DEFAULT_SENDER"])
    message_id = message_id or make_msgid(address.rpartition("@")[2] or "localhost")
    headers = {
        "From": from_header,
        "To": to,
        "Date": format_datetime(date),
        "Message-ID": message_id,
        "Subject": _encoded(content.subject),
        **{key: _encoded(value) for key, value in content.headers.items()},
        "MIME-Version": "1.0",
    }
    boundary = f"=_{uuid.uuid4().hex}"
    lines = [_header_line(key, value) for key, value in headers.items()]
    lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    head = "\r\n".join(lines).encode("ascii")
    body = b"".join(
        [
            f"\r\n\r\n--{boundary}\r\n".encode(),
            _part("plain", content.text),
            f"\r\n--{boundary}\r\n".encode(),
            _part("html", content.html),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return RawMail(sender=address, recipient=to, message_id=message_id, data=head + body)


@lru_cache(maxsize=256)
def _encoded(value: str) -> str:
    """A header value as ASCII: as it is, or as RFC 2047 encoded words when it is not ASCII."""
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=76)


def _header_line(name: str, value: str) -> str:
    lines = value.split("\n")  # Header.encode() folds with "\n " continuation lines
    if "\r" in value or any(not line.startswith((" ", "\t")) for line in lines[1:]):
        raise ValueError(f"line break in the {name} header")
    if len(name) + 2 + max(len(line) for line in lines) > _MAX_LINE:
        raise ValueError(f"the {name} header is longer than {_MAX_LINE} characters")
    return f"{name}: " + "\r\n".join(lines)


def _part(subtype: str, text: str) -> bytes:
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    encoded = base64.encodebytes(text.replace("\n", "\r\n").encode("utf-8"))
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
        + encoded.replace(b"\n", b"\r\n").rstrip(b"\r\n")
    )

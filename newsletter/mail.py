"""Building mails: render a template triplet and wrap it in a standards-conforming message.

Every mail is UTF-8 multipart/alternative with a text/plain and a text/html part (CSS inlined),
and carries From, To, Date, Message-ID and Subject (SPEC §6). Templates live in
``templates/email/<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import css_inline
from flask import current_app, render_template
from flask_babel import force_locale

_inliner = css_inline.CSSInliner(keep_style_tags=True)


@dataclass
class Content:
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


def render(name: str, locale: str, **context) -> Content:
    """Render the ``email/<name>`` triplet in ``locale``."""
    context.setdefault("site_name", current_app.config["SITE_NAME"])
    context.setdefault("site_address", current_app.config["SITE_ADDRESS"])
    with force_locale(locale):
        subject = render_template(f"email/{name}.subject.txt", **context)
        text = render_template(f"email/{name}.txt", **context)
        html = render_template(f"email/{name}.html", locale=locale, **context)
    return Content(subject=" ".join(subject.split()), text=text.strip() + "\n", html=_inliner.inline(html))


def sender_domain() -> str:
    address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    return address.rpartition("@")[2] or "localhost"


def build_message(content: Content, to: str, *, date: datetime, message_id: str | None = None) -> EmailMessage:
    """An EmailMessage for one recipient. Header values with CR/LF are refused by ``email``."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = Address(addr_spec=to)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id or make_msgid(domain=sender_domain())
    message["Subject"] = content.subject
    for name, value in content.headers.items():
        message[name] = value
    message.set_content(content.text, charset="utf-8")
    message.add_alternative(content.html, subtype="html", charset="utf-8")
    return message

"""How the admin pages show times and states: Jinja filters and globals for the templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint
from flask_babel import format_date, format_datetime, format_time, gettext, ngettext
from flask_babel import lazy_gettext as _l

from .. import webclient
from ..labels import label
from . import schedule_words

#: The kinds of address feed fetching refuses, as a refusal names them (webclient.KIND_NAMES).
ADDRESS_KINDS = {
    "unspecified": _l("the unspecified address"),
    "loopback": _l("a loopback address"),
    "link-local": _l("a link-local address"),
    "multicast": _l("a multicast address"),
    "reserved": _l("a reserved address"),
    "private": _l("a private address"),
    "not-public": _l("an address not reachable from the internet"),
}


def local_time(value: datetime | None, format: str = "medium") -> str:
    """``value`` in TIMEZONE, in the reader's format, with the zone's name.

    :param format: ``short`` or ``medium`` (Babel's), or ``day``: the full date and the time.
    """
    if value is None:
        return "–"
    if format == "day":
        text = f"{format_date(value, 'full')}, {format_time(value, 'short')}"
    else:
        text = format_datetime(value, format)
    return f"{text} {_zone_name(value)}"


def _zone_name(value: datetime) -> str:
    """ "MEZ", "CET" where the language has a name for the zone, else "GMT+01:00"."""
    name = format_datetime(value, "z")
    return name if name[:1].isalpha() else format_datetime(value, "ZZZZ")


def utc_time(value: datetime | None) -> str:
    """``value`` in UTC, ISO-like, for evidence that must not depend on the reader."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def feed_result(text: str) -> str:
    """A feed's last result, in the reader's language where it is a refused address; other
    results as recorded (English, like the worker's log)."""
    refused = webclient.Refused.from_text(text)
    kind = ADDRESS_KINDS.get(refused.kind) if refused is not None else None
    if kind is None:
        return text
    if refused.host == refused.address:
        return gettext(
            "refused to connect to %(address)s: %(kind)s (FEED_ALLOW_PRIVATE_NETWORKS is off)",
            address=refused.address,
            kind=kind,
        )
    return gettext(
        "refused to connect to %(host)s at %(address)s: %(kind)s (FEED_ALLOW_PRIVATE_NETWORKS is off)",
        host=refused.host,
        address=refused.address,
        kind=kind,
    )


#: What :mod:`newsletter.feeds` writes into a feed's warnings (English, like the worker's log),
#: and how the admin page says it in the reader's language.
_FEED_WARNINGS = [
    (re.compile(r"^the feed is not well-formed XML: (?P<problem>.*); read by the tolerant parser$"),
     lambda m: gettext("not well-formed XML (%(problem)s): read by the tolerant parser", problem=m["problem"])),
    (re.compile(r"^the feed declares (?P<declared>\S+) but is UTF-8; read as UTF-8$"),
     lambda m: gettext("declares %(declared)s but is UTF-8: read as UTF-8", declared=m["declared"])),
    (re.compile(r"^the feed declares no encoding; read as (?P<encoding>\S+) \(detected\)$"),
     lambda m: gettext("declares no encoding: read as %(encoding)s (detected)", encoding=m["encoding"])),
    (re.compile(r"^the feed declares (?P<declared>\S+) but is not; read as (?P<encoding>\S+) \(detected\)$"),
     lambda m: gettext("declares %(declared)s wrongly: read as %(encoding)s (detected)", **m.groupdict())),
    (re.compile(r"^(?P<num>\d+) entr(?:y|ies) without a date: dated when first seen$"),
     lambda m: ngettext("%(num)s entry without a date: dated when first seen",
                        "%(num)s entries without a date: dated when first seen", int(m["num"]))),
    (re.compile(r"^(?P<num>\d+) entr(?:y|ies) with a date not understood: dated when first seen$"),
     lambda m: ngettext("%(num)s entry with a date not understood: dated when first seen",
                        "%(num)s entries with a date not understood: dated when first seen", int(m["num"]))),
    (re.compile(r"^(?P<num>\d+) entr(?:y|ies) dated in the future: dated when first seen$"),
     lambda m: ngettext("%(num)s entry dated in the future: dated when first seen",
                        "%(num)s entries dated in the future: dated when first seen", int(m["num"]))),
]  # fmt: skip


def feed_warning(text: str) -> str:
    """One of a feed's warnings in the reader's language; one not known here as recorded."""
    for pattern, words in _FEED_WARNINGS:
        match = pattern.match(text)
        if match is not None:
            return words(match)
    return text


def register(bp: Blueprint) -> None:
    bp.add_app_template_filter(local_time, "local_time")
    bp.add_app_template_filter(utc_time, "utc_time")
    bp.add_app_template_filter(feed_result, "feed_result")
    bp.add_app_template_filter(feed_warning, "feed_warning")
    bp.add_app_template_filter(schedule_words.describe, "schedule_words")
    bp.add_app_template_global(label, "label")

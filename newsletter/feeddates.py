"""Dates as feeds in the wild write them, German ones included.

feedparser reads RFC 822 and ISO 8601 dates, but takes a zone it does not know (``MEZ``,
``MESZ``, ``CEST``) for UTC and gives up on German day and month names (``Mo, 03 Jun 2024``,
``3. März 2024``) and on the German numeric form (``03.06.2024 12:00``). :func:`parse` reads
those; what it cannot read is left to feedparser. A time without a zone is taken in the
publisher's TIMEZONE. A pure helper: no app, no database.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

#: Day names and their abbreviations (German and English): dropped, the date says the day.
_DAY_NAMES = re.compile(
    r"^\s*(?:mo|di|mi|do|fr|sa|so|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonnabend|sonntag"
    r"|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
    r"\b\.?\s*,?\s*",
    re.IGNORECASE,
)
_MONTHS = {
    "jan": 1, "januar": 1, "jänner": 1, "january": 1,
    "feb": 2, "februar": 2, "february": 2,
    "mär": 3, "mrz": 3, "märz": 3, "maerz": 3, "mar": 3, "march": 3,
    "apr": 4, "april": 4,
    "mai": 5, "may": 5,
    "jun": 6, "juni": 6, "june": 6,
    "jul": 7, "juli": 7, "july": 7,
    "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9,
    "okt": 10, "oktober": 10, "oct": 10, "october": 10,
    "nov": 11, "november": 11,
    "dez": 12, "dezember": 12, "dec": 12, "december": 12,
}  # fmt: skip
#: Zone abbreviations of Europe in German and English, as hours east of UTC.
_ZONES = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
    "WEZ": 0, "WET": 0, "WESZ": 1, "WEST": 1, "BST": 1,
    "MEZ": 1, "CET": 1, "MESZ": 2, "CEST": 2,
    "OEZ": 2, "EET": 2, "OESZ": 3, "EEST": 3,
}  # fmt: skip
_TIME = r"(?:,?\s+(?:um\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\s*uhr)?)?"
_ZONE = r"(?:\s*(?P<zone>[A-Za-z]{1,4}|[+-]\d{2}:?\d{2}))?"
#: 03.06.2024 12:00, 3.6.24
_NUMERIC = re.compile(r"^(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4}|\d{2})" + _TIME + _ZONE + r"\s*$", re.I)
#: 03 Jun 2024 12:00:00 MESZ, 3. März 2024, 3 June 2024 12:00 +0200
_NAMED = re.compile(
    r"^(?P<day>\d{1,2})\.?\s+(?P<month>[^\W\d_]{3,9})\.?\s+(?P<year>\d{4}|\d{2})" + _TIME + _ZONE + r"\s*$", re.I
)


def parse(text: str | None, local_zone: tzinfo) -> datetime | None:
    """The aware time ``text`` names; None when it is none of the forms above (or impossible).

    :param local_zone: for a time written without a zone (the publisher's TIMEZONE).
    """
    if not text:
        return None
    text = _DAY_NAMES.sub("", text.strip(), count=1)
    match = _NUMERIC.match(text)
    month = int(match["month"]) if match else None
    if match is None:
        match = _NAMED.match(text)
        month = _MONTHS.get(match["month"].lower()) if match else None
    if match is None or month is None:
        return None
    zone = _zone(match["zone"], local_zone)
    if zone is None:
        return None
    year = int(match["year"])
    if year < 100:
        year += 2000
    try:
        return datetime(
            year, month, int(match["day"]),
            int(match["hour"] or 0), int(match["minute"] or 0), int(match["second"] or 0),
            tzinfo=zone,
        )  # fmt: skip
    except ValueError:  # 31.02.2024, 25:00
        return None


def _zone(name: str | None, local_zone: tzinfo) -> tzinfo | None:
    if name is None:
        return local_zone
    if name[0] in "+-":
        digits = name[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return timezone(-offset if name[0] == "-" else offset)
    hours = _ZONES.get(name.upper())
    return None if hours is None else timezone(timedelta(hours=hours))

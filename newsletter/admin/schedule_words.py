"""A crontab line (DIGEST_SCHEDULE) said in words in the admin's language: "täglich um 07:00",
"every day at 07:00", "montags und donnerstags um 07:00". Only what can be said simply is said;
anything else (several times a day, steps, months) is None and the page shows the line itself.
"""

from __future__ import annotations

from babel.lists import format_list
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

#: Cron weekdays from Sunday = 0 (and 7), as the day on which something happens each week.
WEEKDAYS = (
    _l("Sundays"), _l("Mondays"), _l("Tuesdays"), _l("Wednesdays"), _l("Thursdays"), _l("Fridays"), _l("Saturdays"),
)
_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def describe(line: str) -> str | None:
    """``line`` in words, or None when it says more than one time on simple days."""
    fields = line.split()
    if len(fields) != 5:
        return None
    minute, hour, day, month, weekday = fields
    if not (_number(minute, 0, 59) is not None and _number(hour, 0, 23) is not None and month == "*"):
        return None
    time = f"{int(hour):02d}:{int(minute):02d}"
    if day == "*" and weekday in ("*", "?"):
        return gettext("every day at %(time)s", time=time)
    if day == "*":
        days = _weekdays(weekday)
        return gettext("on %(days)s at %(time)s", days=days, time=time) if days else None
    day_of_month = _number(day, 1, 31)
    if day_of_month is not None and weekday in ("*", "?"):
        return gettext("on day %(day)s of every month at %(time)s", day=day_of_month, time=time)
    return None


def _weekdays(field: str) -> str | None:
    """"Mondays and Thursdays", "Mondays to Fridays"; None for steps or nonsense."""
    parts = []
    for part in field.split(","):
        first, dash, last = part.partition("-")
        start, end = _weekday(first), _weekday(last) if dash else None
        if start is None or (dash and (end is None or end <= start)):
            return None
        if dash:
            parts.append(gettext("%(first)s to %(last)s", first=WEEKDAYS[start], last=WEEKDAYS[end % 7]))
        else:
            parts.append(str(WEEKDAYS[start % 7]))
    return format_list(parts, locale=get_locale())


def _weekday(text: str) -> int | None:
    """0-7 (Sunday = 0 and 7) from a number or a three-letter name."""
    if text.lower() in _NAMES:
        return _NAMES.index(text.lower())
    return _number(text, 0, 7)


def _number(text: str, lowest: int, highest: int) -> int | None:
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if lowest <= value <= highest else None

"""Standard five-field crontab lines (DIGEST_SCHEDULE): parsed into APScheduler triggers, and
the latest due time at or before a moment (the catch-up rule). Pure: no app, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(line: str, timezone: str) -> CronTrigger:
    """A trigger for a standard five-field crontab line.

    APScheduler 3 counts numeric weekdays from Monday = 0; cron from Sunday = 0 (and 7).
    Numbers in the weekday field are turned into names, which both read the same way.
    """
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has five fields, got {line!r}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month,
        day_of_week=_translate_weekdays(weekday), timezone=timezone,
    )


def _translate_weekdays(field: str) -> str:
    """Cron weekday field (numbers 0–7, Sunday = 0 and 7) to APScheduler's, as day names.

    Numeric parts and steps over ``*`` are expanded into names; named parts pass through.
    """
    if field in ("*", "?"):
        return "*"
    names: list[str] = []
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if span == "*":
            first, last = 0, 6
        elif span.isdigit():
            first = int(span)
            last = 6 if step_text else first
        elif "-" in span and all(end.isdigit() for end in span.split("-", 1)):
            first, last = (int(end) for end in span.split("-", 1))
        else:
            names.append(part)
            continue
        if not 0 <= first <= last <= 7 or step < 1:
            raise ValueError(f"weekday field {field!r} is out of range 0-7")
        names.extend(_CRON_WEEKDAYS[number] for number in range(first, last + 1, step))
    return ",".join(dict.fromkeys(names))


#: How far back :func:`latest_due` looks for a schedule's last run, widening step by step:
#: an hourly schedule is found in the first window, a yearly one (or 29 February) in the last.
_LOOKBACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=8 * 366),
)


def latest_due(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` at which ``trigger`` fires, in UTC.

    None if it never fired within the longest look-back (a schedule that never fires).
    """
    for window in _LOOKBACK:
        latest = None
        fire = trigger.get_next_fire_time(None, now - window)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(None, fire + timedelta(seconds=1))
        if latest is not None:
            return latest.astimezone(UTC)
    return None

"""The service's notion of "now", injectable so tests control time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app


class Clock:
    """The wall clock, always in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


#: The years a time from outside may name (a form, a feed, an import). Python's datetime ends
#: at years 1 and 9999, and moving a time near either end into another zone overflows; these
#: bounds leave room for any zone, and every database and formatting here holds them.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2999


def holdable(moment: datetime) -> bool:
    """Whether ``moment`` (naive or aware) lies within EARLIEST_YEAR to LATEST_YEAR."""
    return EARLIEST_YEAR <= moment.year <= LATEST_YEAR


def init_app(app, clock: Clock | None = None) -> None:
    app.extensions["clock"] = clock or Clock()


def now() -> datetime:
    """The current UTC time of the running app's clock."""
    return current_app.extensions["clock"].now()

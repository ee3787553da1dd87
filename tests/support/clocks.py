"""Time in tests: the ``clock`` fixture is a FrozenClock that starts at :data:`START` and moves
only when a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.clock import Clock, FrozenClock

#: A Monday morning in Berlin; tests move the clock from here.
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def start_at_the_wall_clock(clock: FrozenClock) -> None:
    """Set the test's clock to the real time, for rows a ``flask worker`` process will read:
    such a process runs on the wall clock, whatever date the machine has. Nothing waits for
    the wall clock to move."""
    clock.set(Clock().now())

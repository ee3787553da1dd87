"""Pacing the sender for relays that allow only so many messages per second (MAIL_RATE_LIMIT)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """A token bucket shared by a sender's connections: ``rate`` tokens a second, at most
    ``burst`` saved up. :meth:`acquire` blocks until a token is there, :meth:`acquire_async`
    waits for it on the event loop.

    ``monotonic`` and ``sleep`` are injectable so tests need no real waiting.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._monotonic, self._sleep = monotonic, sleep
        self._tokens = self.burst
        self._updated = monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take a token, sleeping until there is one."""
        while wait := self._take():
            self._sleep(wait)

    async def acquire_async(self) -> None:
        """Take a token, pausing this task (not the event loop) until there is one."""
        while wait := self._take():
            await asyncio.sleep(wait)

    def _take(self) -> float:
        """Take a token and return 0, or return how long until there is one."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1 - 1e-9:  # float sums of fractions land just below 1
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate

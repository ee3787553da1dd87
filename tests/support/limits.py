"""Rate limits in tests: windows far longer than any test runs, and their end played through
the limiter's own storage, so no test sleeps or races a window that runs out by itself."""

from __future__ import annotations

from newsletter.extensions import limiter

#: Longer than any test: a window never ends by itself while a test runs.
WINDOW = "1 hour"


def limit(config: dict, **counts: int) -> dict:
    """Switch the limiter on, each ``NAME=count`` as ``RATELIMIT_NAME = "count per 1 hour"``."""
    config["RATELIMIT_ENABLED"] = True
    config.update({f"RATELIMIT_{name}": f"{count} per {WINDOW}" for name, count in counts.items()})
    return config


def windows_pass() -> None:
    """Every limit's window ends now: the limiter forgets what it counted, as it does once the
    window's time has passed."""
    limiter.reset()

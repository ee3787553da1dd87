"""Rate limits in tests: windows far longer than any test runs, so no test races a window that
runs out by itself. A test that needs a window to end moves the app's clock where the limit
counts on it (the admin login throttle), or has the limiter forget its counts (``limiter.reset()``)."""

from __future__ import annotations

#: Longer than any test: a window never ends by itself while a test runs.
WINDOW = "1 hour"


def limit(config: dict, **counts: int) -> dict:
    """Switch the limiter on, each ``NAME=count`` as ``RATELIMIT_NAME = "count per 1 hour"``."""
    config["RATELIMIT_ENABLED"] = True
    config.update({f"RATELIMIT_{name}": f"{count} per {WINDOW}" for name, count in counts.items()})
    return config

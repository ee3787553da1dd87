"""Waiting for what another thread or process does to the database, never for time to pass.

:func:`wait_until` asks again and again until the condition holds; its timeout only keeps a
broken test from hanging, and no outcome depends on how fast anything runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Pause between two looks (real seconds): short against the timeout, long against a query.
_POLL_SECONDS = 0.05


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Block until ``condition()`` is true; fail the test, saying ``what`` did not happen, after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(_POLL_SECONDS)

"""Running a coroutine to its end from a test.

Not with ``asyncio.run`` on the test's own thread: after the browser tests, Playwright's sync
API leaves an event loop running there, and ``asyncio.run`` refuses to start beside it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_to_end(coroutine_function: Callable[[], Awaitable[T]]) -> T:
    """``coroutine_function()`` run on a new event loop on a thread of its own; its result."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="test-loop") as pool:
        return pool.submit(lambda: asyncio.run(coroutine_function())).result()

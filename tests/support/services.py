"""Finding the real services the tests use, and saying loudly when one is missing.

A missing PostgreSQL, Redis or Chromium skips the tests that need it, and the skip is listed
in a banner at the end of the run. Under CI=true a missing service fails those tests instead.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest

DEFAULT_POSTGRES_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URI = os.environ.get("NEWSLETTER_TEST_REDIS_URI", "redis://127.0.0.1:6379/15")
CHROMIUM = os.environ.get("NEWSLETTER_TEST_CHROMIUM", "/usr/bin/chromium")

MISSING: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip (fail under CI) the calling test when ``what`` is not available."""
    if available:
        return
    if what not in MISSING:
        MISSING.append(what)
    if in_ci():
        pytest.fail(f"{what} is required under CI=true but not available", pytrace=False)
    pytest.skip(f"{what} not available")


def reachable(uri: str) -> bool:
    parts = urlsplit(uri)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def postgres_uri() -> str:
    return os.environ.get("NEWSLETTER_TEST_POSTGRES_URI", DEFAULT_POSTGRES_URI)


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None

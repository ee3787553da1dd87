"""Finding the real services the tests use, and saying loudly when one is missing.

A missing PostgreSQL, Redis or Chromium skips the tests that need it, and the skip is listed
in a banner at the end of the run. Under CI=true a missing service fails those tests instead.
"""

from __future__ import annotations

import atexit
import functools
import os
import secrets
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
    """NEWSLETTER_TEST_POSTGRES_URI (CI names its database); else a database of this run's own
    on the local server, so test runs side by side (other checkouts, a benchmark) never truncate
    or kill each other's connections; it is dropped when the run ends."""
    configured = os.environ.get("NEWSLETTER_TEST_POSTGRES_URI")
    if configured:
        return configured
    return _private_postgres_database()


@functools.cache
def _private_postgres_database() -> str:
    if not reachable(DEFAULT_POSTGRES_URI):
        return DEFAULT_POSTGRES_URI  # its tests skip (fail under CI=true)
    from sqlalchemy import create_engine, text

    name = f"test_run_{os.getpid()}_{secrets.token_hex(4)}"
    server = create_engine(DEFAULT_POSTGRES_URI.rpartition("/")[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()

    atexit.register(drop)
    return DEFAULT_POSTGRES_URI.rpartition("/")[0] + f"/{name}"


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None

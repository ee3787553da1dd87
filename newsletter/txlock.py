"""Locks held until the transaction ends, on names that are keyed hashes.

Work that reads a count and then adds to it (a cap, a throttle) takes the lock of what it
counts first, so requests running side by side are carried out one after the other and none
of them overruns the count, while each still gets its turn. On PostgreSQL these are
transaction-level advisory locks, taken in one order so two requests never wait on each
other; SQLite runs every write transaction under its one write lock already (``BEGIN
IMMEDIATE``, see :mod:`newsletter.extensions`).
"""

from __future__ import annotations

from sqlalchemy import text

from .extensions import db


def _key(name: str) -> int:
    return int.from_bytes(bytes.fromhex(name)[:8], "big", signed=True)


def hold(*names: str) -> None:
    """Take the locks of ``names`` (hex digests) until the transaction ends."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({_key(name) for name in names}):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

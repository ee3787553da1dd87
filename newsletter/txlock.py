"""Locks held until the transaction ends, on names that are keyed hashes.

Work that reads a count and then adds to it (a cap, a throttle) takes the lock of what it
counts first, so requests running side by side are carried out one after the other and none
of them overruns the count, while each still gets its turn. On PostgreSQL these are
transaction-level advisory locks, taken in one order so two requests never wait on each
other; SQLite runs every write transaction under its one write lock already (``BEGIN
IMMEDIATE``, see :mod:`newsletter.extensions`).
"""

from __future__ import annotations

import weakref

from sqlalchemy import text

from .extensions import db

#: The keys each transaction holds already (by its session's root transaction): taking one
#: again costs no statement. Locks taken inside a savepoint are not noted (its rollback would
#: let go of them).
_held: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: Many locks in one statement, in the order given (PostgreSQL evaluates a volatile function
#: of the select list after ORDER BY).
_HOLD_MANY = text(
    "SELECT pg_advisory_xact_lock(taken.key) FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY"
    " AS taken(key, position) ORDER BY taken.position"
)


def _key(name: str) -> int:
    return int.from_bytes(bytes.fromhex(name)[:8], "big", signed=True)


def hold(*names: str) -> None:
    """Take the locks of ``names`` (hex digests) until the transaction ends."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    session = db.session()
    session.connection()  # the transaction the locks belong to has begun
    held = _held.setdefault(session.get_transaction(), set()) if not session.in_nested_transaction() else set()
    keys = sorted({_key(name) for name in names} - held)
    if len(keys) == 1:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": keys[0]})
    elif keys:
        session.execute(_HOLD_MANY, {"keys": keys})
    held.update(keys)

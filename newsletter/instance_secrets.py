"""Secrets of this installation, generated once and kept with the data (SPEC §2).

Some keys must live as long as the data they key, not as long as SECRET_KEY: a suppression
list hashed under a key that rotates would forget every erasure at the next rotation. Such a
key is created on first use as a random value in ``instance_secret`` and never changed; each
app reads it once and keeps it.

Creating one is race-safe: every process inserts its own random value only if the name is not
taken yet, then reads back whichever value is stored, so processes starting at once all end up
with the first one committed. The insert runs in the caller's transaction (on SQLite a second
connection could not write while the caller holds the lock): should that transaction roll
back, the value goes with it, together with everything keyed by it. So a value is kept for the
app only once read in a transaction that did not insert it, that is, once it was committed.
"""

from __future__ import annotations

import secrets

from flask import current_app
from sqlalchemy import select

from . import bulk, clock
from .extensions import db
from .models import InstanceSecret

#: ``db.session.info`` key: (the transaction that inserted values, their names).
_INSERTED = "instance_secrets.inserted"


def get(name: str) -> str | None:
    """The stored value of ``name``, None while there is none."""
    known = current_app.extensions.setdefault("instance_secrets", {})
    if name in known:
        return known[name]
    session = db.session()
    value = session.execute(select(InstanceSecret.value).where(InstanceSecret.name == name)).scalar_one_or_none()
    transaction, inserted = session.info.get(_INSERTED, (None, set()))
    uncommitted = transaction is session.get_transaction() and name in inserted
    if value is not None and not uncommitted:
        known[name] = value
    return value


def get_or_create(name: str) -> str:
    """The value of ``name``, stored now (a random 256-bit hex string) if there is none yet.
    Flushes, never commits."""
    value = get(name)
    if value is not None:
        return value
    session = db.session()
    added = session.execute(
        bulk.insert_or_ignore(InstanceSecret.__table__).values(
            name=name, value=secrets.token_hex(32), created_at=clock.now()
        )
    ).rowcount
    if added:
        transaction, inserted = session.info.get(_INSERTED, (None, set()))
        if transaction is not session.get_transaction():
            inserted = set()
        session.info[_INSERTED] = (session.get_transaction(), inserted | {name})
    stored = get(name)  # ours, or the one another process stored first
    assert stored is not None
    return stored

"""On SQLite one sender at a time: the others wait their turn.

SQLite has one write lock for the whole file, so a second sender there adds no speed, only
contention: each waits for the other's claims and outcome stores, and a store that waits too
long fails after the mail was handed over. So on SQLite a sender claims only while it holds
the turn (:meth:`SendingTurn.take`); one that cannot take it claims nothing and tries again on
its next round (the worker's send job) or after a pause (``send-digest``, which says whom it
waits for). On PostgreSQL senders share the queue (``SKIP LOCKED``) and need no turn.

The turn is an exclusive ``flock`` on a file beside the database, never waited for. The kernel
lets go of it when its process ends, however it ends: a sender that crashed never keeps the
next one out (its claimed mails return once their lease runs out).
"""

from __future__ import annotations

import fcntl
import os
import sys

from ..extensions import db

#: At most this much of the lock file is read back to name the holder.
_HOLDER_CHARS = 200


class SendingTurn:
    """One sender's turn on SQLite (always granted elsewhere); taken once, held until
    :meth:`release`."""

    def __init__(self) -> None:
        self._file = None

    def take(self) -> bool:
        """Take the turn if nobody holds it; whether this sender holds it now. Needs an app
        context."""
        if self._file is not None:
            return True
        path = _lock_path()
        if path is None:
            return True
        lock_file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            return False
        lock_file.truncate(0)
        lock_file.write(f"process {os.getpid()}: {_command()}")
        lock_file.flush()
        self._file = lock_file
        return True

    def holder(self) -> str:
        """Who holds the turn, as its holder wrote it down (e.g. "process 4711: flask worker")."""
        path = _lock_path()
        try:
            with open(path, encoding="utf-8", errors="replace") as lock_file:
                said = lock_file.read(_HOLDER_CHARS)
        except (OSError, TypeError):
            said = ""
        said = "".join(char for char in said if char.isprintable()).strip()
        return said or "another sender"

    def release(self) -> None:
        if self._file is not None:
            lock_file, self._file = self._file, None
            lock_file.close()  # closing the last descriptor of the lock lets go of it


def _lock_path() -> str | None:
    """The turn's lock file beside the SQLite database; None elsewhere, or for a database held
    in memory (one process only)."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.query.get("mode") == "memory":
        return None
    return f"{url.database}.sender.lock"


def _command() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    if name == "__main__.py":  # python -m flask
        name = "flask"
    return " ".join([name, *sys.argv[1:]])[:_HOLDER_CHARS]

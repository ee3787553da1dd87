"""SQLite's write lock, taken in turn by every process and thread that writes.

Every transaction on SQLite starts with ``BEGIN IMMEDIATE`` (:func:`.extensions._sqlite_begin`).
While another connection holds the write lock, SQLite's busy handler sleeps and tries again,
the pauses growing to 100 ms; a writer that keeps losing the race to newcomers that try
sooner waits for seconds. Sign-ups against the worker's stores had a p99 of 3.4 s that way
(bench/README.md, issue 16). So each connection first takes an exclusive ``flock`` on a file
beside the database (``<database>-turn``): the kernel wakes a waiter the moment the holder
lets go, and ``BEGIN IMMEDIATE`` then finds the write lock free. The turn is let go when the
transaction ends (:class:`TurnTakingConnection` commit, rollback, close) and by the kernel
when a process dies.

A thread that holds the turn on one connection and begins a transaction on another does not
wait for itself: that second connection goes straight to SQLite's own lock, as before.
Tools outside this code (the sqlite3 shell) do not take turns and are waited for by SQLite.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

#: The threads holding the turn (on one of their connections): a thread whose transaction
#: holds it must not wait for it on another connection. By thread id, not thread-local: the
#: transaction may end in another thread (a pool reset, a garbage collection).
_holding_threads: set[int] = set()


class TurnTakingConnection(sqlite3.Connection):
    """A sqlite3 connection that waits for its turn before each transaction (:meth:`take_turn`)
    and lets go of it once the transaction is over."""

    _turn_file: int | None = None
    #: The thread whose transaction holds the turn on this connection, or None.
    _holder: int | None = None
    #: False: do not wait for the turn; without it, the transaction goes to SQLite's own lock
    #: (for a connection whose busy_timeout is 0 and that is to fail at once on a held lock).
    patient = True

    def use_turn_file(self, database_path: str) -> None:
        """Take turns with every connection to the database file ``database_path``."""
        if database_path and self._turn_file is None:
            self._turn_file = os.open(f"{database_path}-turn", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def take_turn(self) -> None:
        """Wait until no other connection of ours writes; call before BEGIN."""
        thread = threading.get_ident()
        if self._turn_file is None or self._holder is not None or thread in _holding_threads:
            return
        try:
            fcntl.flock(self._turn_file, fcntl.LOCK_EX if self.patient else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        self._holder = thread
        _holding_threads.add(thread)

    def let_go(self) -> None:
        if self._holder is not None:
            _holding_threads.discard(self._holder)
            self._holder = None
            fcntl.flock(self._turn_file, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.let_go()

    def close(self) -> None:
        try:
            self.let_go()
            if self._turn_file is not None:
                os.close(self._turn_file)
                self._turn_file = None
        finally:
            super().close()

"""Proving that a second transaction is held back by a first one's lock, without a clock.

:func:`second_waits_for_first` runs ``first`` in a transaction that a thread of its own keeps
open, shows that ``second`` cannot get past the lock meanwhile, lets the first commit, and
returns what each returned once ``second`` got through:

- PostgreSQL: ``second`` runs in a thread while a connection of the test's own watches
  ``pg_stat_activity`` until a backend waits for a lock (``wait_event_type = 'Lock'``) that the
  first one's backend holds (``pg_blocking_pids``); only then does the first commit. So the
  second really waited, and what it does after the wait is what the test sees.
- SQLite shows no waiting backends. Every transaction opens with ``BEGIN IMMEDIATE``
  (``newsletter.extensions:_sqlite_begin``), after the writers' turn (``newsletter.sqlite_turns``),
  so a second writer waits before it has read anything. ``second`` therefore runs once on a
  connection that does not wait (``busy_timeout`` 0, not patient for the turn) and must fail at that ``BEGIN IMMEDIATE`` with "database is locked"
  while the first is open; after the first committed it runs again as usual: having read
  nothing before the lock, a writer that waited does exactly that once the lock is free.

The timeouts only keep a broken test from hanging; no outcome depends on how fast anything runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from newsletter.extensions import db

SAFETY_SECONDS = 30
#: Paces the look at PostgreSQL's lock table; the look repeats until the second waits.
_POLL_SECONDS = 0.005
_POLLS = int(SAFETY_SECONDS / _POLL_SECONDS)

_WAITING_FOR = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND wait_event_type = 'Lock' AND CAST(:holder AS integer) = ANY(pg_blocking_pids(pid))"
)


class _Thread(threading.Thread):
    """Calls ``work`` and keeps what it returned or raised for :meth:`result`."""

    def __init__(self, work: Callable[[], Any], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._work = work
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self._work()
        except BaseException as exc:  # handed to the test by result()
            self.error = exc

    def result(self) -> Any:
        self.join(SAFETY_SECONDS)
        assert not self.is_alive(), f"the {self.name} did not end"
        if self.error is not None:
            raise self.error
        return self.value


def _committed(app: Flask, work: Callable[[], Any], before_commit: Callable[[], None] = lambda: None) -> Any:
    with app.app_context():
        value = work()
        before_commit()
        db.session.commit()
        return value


def second_waits_for_first(app: Flask, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``first``, keep its transaction open, prove that ``second`` is held back by its lock,
    commit the first, and return ``(first's value, second's value)``. Each runs in the app's
    context and is committed after it returns."""
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    holding, release = threading.Event(), threading.Event()
    backend: list[int] = []
    held: list[bool] = []

    def hold() -> None:
        if postgresql:
            backend.append(db.session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        held.append(True)
        holding.set()
        release.wait(SAFETY_SECONDS)

    def first_held_open() -> Any:
        try:
            return _committed(app, first, hold)
        finally:
            holding.set()

    holder = _Thread(first_held_open, "first transaction")
    racer = _Thread(lambda: _committed(app, second), "second transaction")
    holder.start()
    try:
        assert holding.wait(SAFETY_SECONDS), "the first transaction did not get to hold its lock"
        if not held:
            holder.result()  # raises what kept it from holding
        if postgresql:
            racer.start()
            _wait_until_blocked(app, backend[0], racer)
        else:
            _fails_at_once_while_held(app, second)
    finally:
        release.set()
    first_value = holder.result()
    if not postgresql:
        racer.start()
    return first_value, racer.result()


def _wait_until_blocked(app: Flask, holder_pid: int, racer: _Thread) -> None:
    """Return once a backend waits for a lock held by ``holder_pid``; fail if ``racer`` ends first."""
    with app.app_context(), db.engine.connect() as watch:
        watch.execution_options(isolation_level="AUTOCOMMIT")  # a fresh pg_stat_activity each look
        for _ in range(_POLLS):
            if watch.execute(_WAITING_FOR, {"holder": holder_pid}).first() is not None:
                return
            racer.join(_POLL_SECONDS)  # ends the pause at once if the second is done
            if not racer.is_alive():
                pytest.fail(
                    "the second transaction ended without waiting for the first one's lock"
                    f" (returned {racer.value!r}, raised {racer.error!r})"
                )
    pytest.fail(f"the second transaction did not wait for the first one's lock within {SAFETY_SECONDS} s")


def _fails_at_once_while_held(app: Flask, second: Callable[[], Any]) -> None:
    """SQLite: ``second`` on connections that do not wait must be refused at its BEGIN IMMEDIATE."""
    with app.app_context():
        engine = db.engine
    with _not_waiting(engine) as refusals:
        try:
            _committed(app, second)
        except Exception:  # what the database said is asserted below
            pass
    assert refusals, "the second transaction got through while the first one held its lock"
    statement, error = refusals[0]
    assert statement == "BEGIN IMMEDIATE", f"the second was held only at {statement!r}, after reading"
    assert "database is locked" in str(error), error


@contextmanager
def _not_waiting(engine: Engine) -> Iterator[list[tuple[str, BaseException]]]:
    """Connections this thread takes from the pool meanwhile give up at once on a lock held
    elsewhere (``busy_timeout`` 0); yields the (statement, error) of each failure on them."""
    this_thread = threading.current_thread()
    patience: dict[int, int] = {}
    refusals: list[tuple[str, BaseException]] = []

    def on_checkout(dbapi_connection, _record, _proxy) -> None:
        if threading.current_thread() is this_thread:
            patience[id(dbapi_connection)] = dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0]
            dbapi_connection.execute("PRAGMA busy_timeout=0")
            dbapi_connection.patient = False  # nor for the writers' turn (newsletter.sqlite_turns)

    def on_checkin(dbapi_connection, _record) -> None:
        if dbapi_connection is not None and id(dbapi_connection) in patience:
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(patience.pop(id(dbapi_connection)))}")
            dbapi_connection.patient = True

    def on_error(context) -> None:
        if threading.current_thread() is this_thread:
            refusals.append((context.statement, context.original_exception))

    listeners = (("checkout", on_checkout), ("checkin", on_checkin), ("handle_error", on_error))
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield refusals
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    assert not patience, "a connection that does not wait is still out of the pool"

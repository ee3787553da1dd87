"""On SQLite, writers take turns through a lock the kernel hands on (issue 16): a writer
waiting in SQLite's busy handler sleeps up to 100 ms between tries and kept losing to
newcomers (sign-up p99 3.4 s against the worker's stores). The turn is held from the start
of a transaction to its end, whichever connection, thread or process holds it."""

from __future__ import annotations

import fcntl
import os
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from newsletter.extensions import db
from newsletter.models import Subscriber


@pytest.fixture
def turn_file(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite only")
    with app.app_context():
        path = db.session.execute(text("PRAGMA database_list")).all()[0][2]
        db.session.commit()
    return f"{path}-turn"


def _someone_holds(turn_file: str) -> bool:
    """Whether a connection holds the turn (asked on a file description of our own)."""
    descriptor = os.open(turn_file, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def test_a_transaction_holds_the_turn_from_its_start_to_its_end(app, turn_file):
    with app.app_context():
        db.session.execute(select(Subscriber.id).limit(1))  # BEGIN IMMEDIATE
        assert _someone_holds(turn_file)
        db.session.commit()
        assert not _someone_holds(turn_file)
        db.session.execute(select(Subscriber.id).limit(1))
        assert _someone_holds(turn_file)
        db.session.rollback()
        assert not _someone_holds(turn_file)


def test_a_writer_waits_for_the_turn_and_gets_it_once_the_holder_lets_go(app, turn_file):
    began = threading.Event()

    def other_writer() -> None:
        with app.app_context():
            db.session.execute(select(Subscriber.id).limit(1))
            began.set()
            db.session.commit()

    with app.app_context():
        db.session.execute(select(Subscriber.id).limit(1))
        writer = threading.Thread(target=other_writer)
        writer.start()
        assert not began.is_set()  # (it cannot get past the turn while this one holds it)
        db.session.commit()
    writer.join()
    assert began.is_set()
    assert not _someone_holds(turn_file)


def test_a_second_connection_of_the_holding_thread_does_not_wait_for_itself(app, turn_file):
    # It would wait for ever; it goes to SQLite's own lock instead, and that answers
    # "database is locked" after the busy timeout, as it did before turns were taken.
    with app.app_context():
        db.session.execute(select(Subscriber.id).limit(1))
        with db.engine.connect() as other:
            other.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")
            with pytest.raises(OperationalError, match="locked"):
                other.exec_driver_sql("SELECT 1")
        db.session.commit()

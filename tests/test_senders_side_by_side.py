"""Senders side by side (issue 13): on one SQLite file they take turns, a live sender's leases
never run out however slowly the relay answers, and the data counts every hand-over, so a mail
that reached the relay twice shows it.

Tests with sender processes wait for what the relay, the database and the processes do
(tests/support/smtp.py, waiting.py, processes.py); the sender in a thread of its own reads
the test's clock, which only the test moves.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.delivery import queue
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, Subscriber
from tests.support.clocks import start_at_the_wall_clock
from tests.support.factories import add_article
from tests.support.flows import drain, queue_digest, send_once_the_leases_ran_out
from tests.support.processes import flask_process
from tests.support.waiting import wait_until


def handovers_by_email(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Subscriber.email, Delivery.handovers).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        ).all()
        db.session.commit()
    return dict(rows)


def handover_counts(app) -> dict[int, int]:
    """How many deliveries have each hand-over count."""
    with app.app_context():
        rows = db.session.execute(select(Delivery.handovers, func.count()).group_by(Delivery.handovers)).all()
        db.session.commit()
    return dict(rows)


def statuses(app) -> dict[DeliveryStatus, int]:
    with app.app_context():
        rows = db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        db.session.commit()
    return dict(rows)


def leases_last_until(app, moment) -> bool:
    """Whether every mail still ``sending`` has its lease until ``moment`` or later."""
    with app.app_context():
        earliest = db.session.execute(
            select(func.min(Delivery.lease_expires_at)).where(Delivery.status == DeliveryStatus.SENDING)
        ).scalar_one()
        db.session.commit()
    return earliest is not None and earliest >= moment


@pytest.fixture
def sqlite_config(smtp_config, tmp_path):
    """Settings on an SQLite file, whatever database the rest of the suite uses."""
    smtp_config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'senders.db'}"
    return smtp_config


def test_a_live_senders_leases_never_run_out_however_slowly_the_relay_answers(smtp_app, smtp_server, clock):
    """A lease runs out only when its sender died. A live sender renews the leases of the mails
    it holds every third of SEND_LEASE_SECONDS (by the app's clock): the relay here answers no
    mail while the clock moves past the lease the claim took, and still no second sender can
    claim one of them, the sender itself claims none again, and the relay gets each mail once."""
    app = smtp_app
    app.config["MAIL_TIMEOUT"] = 600  # the held replies play a slow relay, not a broken one
    lease = app.config["SEND_LEASE_SECONDS"]
    emails = queue_digest(app, 20)  # one claim: 4 mails on the wire, 16 still in the sender's hands
    smtp_server.hold_replies()
    reports = []
    first = threading.Thread(target=lambda: reports.append(drain(app)), name="first sender")
    first.start()
    try:
        smtp_server.wait_for(app.config["MAIL_CONCURRENCY"])  # each connection waits for its reply
        for _ in range(3):  # a third of the lease at a time, well past the lease the claim took
            clock.advance(seconds=lease / 3 + 1)
            renewed = clock.now() + timedelta(seconds=lease)
            wait_until(lambda moment=renewed: leases_last_until(app, moment), "the sender renewing its leases")
        with app.app_context():
            assert queue.claim() == []  # a second sender finds nothing to take
    finally:
        smtp_server.release_replies()
        first.join(60)
    assert reports and reports[0].sent == len(emails)
    assert smtp_server.handler.recipient_counts() == dict.fromkeys(emails, 1)
    assert statuses(app) == {DeliveryStatus.SENT: len(emails)}
    assert handovers_by_email(app) == dict.fromkeys(emails, 1)


def test_the_data_counts_each_hand_over_and_takes_back_the_ones_the_relay_refused(smtp_app, smtp_server):
    """Each mail's hand-over is counted (and stored) before its final dot, so one that went out
    twice shows it (the kill in tests/test_sending.py); the relay's refusals take it back."""
    emails = queue_digest(smtp_app, 4)
    smtp_server.handler.rcpt_replies[emails[0]] = "451 4.7.1 greylisted"
    smtp_server.handler.rcpt_replies[emails[1]] = "550 5.1.1 no such user"
    drain(smtp_app)
    assert handovers_by_email(smtp_app) == {emails[0]: 0, emails[1]: 0, emails[2]: 1, emails[3]: 1}


def test_on_one_sqlite_file_send_digest_waits_for_the_busy_worker_and_every_mail_goes_once(
    sqlite_config, app, smtp_server, clock
):
    """On one SQLite file one sender sends at a time: while the worker sends, `send-digest`
    says whom it waits for and waits (the worker sends the new digest too); it ends with 0,
    explains the mails left to retry, and every reader has each digest once."""
    start_at_the_wall_clock(clock)
    emails = queue_digest(app, 300)  # the worker's work: a digest queued before
    greylisted = emails[:3]
    for email in greylisted:
        smtp_server.handler.rcpt_replies[email] = "451 4.7.1 greylisted"
    smtp_server.hold_replies()
    with flask_process(app, smtp_server.port, "worker") as worker:
        smtp_server.wait_for(app.config["MAIL_CONCURRENCY"])  # the worker is sending, its replies held
        with app.app_context():
            add_article("Noch mehr Neuigkeiten")
            db.session.commit()
        with flask_process(app, smtp_server.port, "send-digest") as command:
            command.wait_for_output("waiting for it")
            smtp_server.release_replies()
            output = command.finish()
        worker.terminate()
        worker.finish()
    assert command.returncode == 0, output
    assert "another sender is sending (process " in output and "worker" in output
    assert "queued 300, sent 297, failed 0, retrying 3" in output, output
    assert "3 will be retried after " in output and ": 451 4.7.1 greylisted" in output, output
    counts = smtp_server.handler.recipient_counts()
    assert counts == {email: 2 for email in emails if email not in greylisted}  # both digests, once each
    # every hand-over counted once; the refused ones taken back (3 readers, 2 digests)
    assert handover_counts(app) == {1: 2 * 297, 0: 2 * 3}


def test_a_killed_sender_lets_go_of_the_turn_and_its_repeats_show_in_the_data(sqlite_config, app, smtp_server, clock):
    """The turn ends with its process: `send-digest`, waiting for a worker that is killed in the
    middle of a digest, takes over (the worker's mails once their lease ran out). At most one
    mail per connection reaches a reader twice, and each of them shows 2 hand-overs."""
    start_at_the_wall_clock(clock)
    emails = queue_digest(app, 300)
    smtp_server.hold_replies()
    worker = flask_process(app, smtp_server.port, "worker", SEND_LEASE_SECONDS=2)
    with worker:
        smtp_server.wait_for(app.config["MAIL_CONCURRENCY"])
        with app.app_context():
            add_article("Noch mehr Neuigkeiten")
            db.session.commit()
        with flask_process(app, smtp_server.port, "send-digest", SEND_LEASE_SECONDS=2) as command:
            command.wait_for_output("waiting for it")
            # SIGKILL while the 100th mail waits for its reply: the relay has it, its outcome is not stored
            smtp_server.handler.on_message = lambda count: count == 100 and worker.kill()
            smtp_server.release_replies()
            output = command.finish()
        worker.finish()
    smtp_server.handler.on_message = None
    assert command.returncode == 0, output
    assert "queued 300, sent 300" in output, output
    send_once_the_leases_ran_out(app, clock)  # what the dead worker held and send-digest left
    counts = smtp_server.handler.recipient_counts()
    repeated = {email for email, n in counts.items() if n == 3}
    assert set(counts.values()) <= {2, 3} and set(counts) == set(emails)  # two digests, every reader
    assert len(repeated) <= app.config["MAIL_CONCURRENCY"]
    with app.app_context():
        counted_twice = set(
            db.session.execute(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.handovers == 2)
            ).scalars()
        )
        db.session.commit()
    assert repeated <= counted_twice  # the data shows every repeat ...
    assert len(counted_twice) <= app.config["MAIL_CONCURRENCY"]  # ... and at most the mails in flight
    assert statuses(app) == {DeliveryStatus.SENT: 600}

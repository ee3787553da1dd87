"""The sending pipeline: no mail lost, none repeated beyond the mails in flight, work shared
between workers, what each relay answer does (4xx, 5xx, down), bounces counted (issue 4).

The tests that kill or run several worker processes need PostgreSQL (SKIP LOCKED across
processes); they use the server in NEWSLETTER_TEST_POSTGRES_URI and skip loudly without it.
They wait for what the relay and the processes observably do (tests/support/smtp.py and
processes.py), never for time to pass.
"""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import func, select

from newsletter import digest, subscribers
from newsletter.delivery import outcomes, queue, sender
from newsletter.delivery.pacing import TokenBucket
from newsletter.delivery.sender import Sender
from newsletter.delivery.transports import smtp
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, DigestTrigger, SubscriberStatus
from tests.support import services
from tests.support.clocks import start_at_the_wall_clock
from tests.support.factories import add_article
from tests.support.flows import add_readers, drain, queue_digest, send_once_the_leases_ran_out
from tests.support.processes import flask_process

#: Connections per sender process (flask_process sets MAIL_CONCURRENCY to it).
CONCURRENCY = 4


def statuses(app) -> dict[DeliveryStatus, int]:
    with app.app_context():
        rows = db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        db.session.commit()
    return dict(rows)


def delivery_to(app, email: str) -> Delivery:
    with app.app_context():
        row = db.session.execute(
            select(Delivery).where(Delivery.subscriber_id == subscribers.find_by_email(email).id)
        ).scalar_one()
        db.session.expunge_all()
        return row


@pytest.fixture
def postgres_config(smtp_config):
    """Settings on the PostgreSQL server, whatever database the rest of the suite uses."""
    uri = services.postgres_uri()
    services.require(services.reachable(uri), "PostgreSQL (127.0.0.1:5432)")
    smtp_config["SQLALCHEMY_DATABASE_URI"] = uri
    return smtp_config


def worker_process(app, smtp_port: int):
    return flask_process(app, smtp_port, "worker")


def test_a_killed_sender_loses_nothing_and_repeats_at_most_one_mail_per_connection(
    postgres_config, app, smtp_server, clock
):
    start_at_the_wall_clock(clock)
    emails = queue_digest(app, 400)
    worker = worker_process(app, smtp_server.port)
    # SIGKILL while the 100th mail waits for its reply: the relay has it, its outcome is not stored.
    smtp_server.handler.on_message = lambda count: count == 100 and worker.kill()
    with worker:
        smtp_server.wait_for(100)
        worker.finish()
    smtp_server.handler.on_message = None
    smtp_server.wait_until_idle()  # the dead worker's connections are gone: nothing more arrives from it
    killed_at = len(smtp_server.messages)
    assert 100 <= killed_at < 400, "the kill should land in the middle of the digest"
    report = send_once_the_leases_ran_out(app, clock)
    counts = smtp_server.handler.recipient_counts()
    assert set(counts) == set(emails)  # everyone has the digest
    twice = [email for email, n in counts.items() if n > 1]
    assert all(n <= 2 for n in counts.values())
    assert len(twice) <= CONCURRENCY, f"{len(twice)} repeated, MAIL_CONCURRENCY is {CONCURRENCY}"
    assert report.sent == 400 - killed_at + len(twice)
    assert statuses(app) == {DeliveryStatus.SENT: 400}


def test_two_workers_share_a_digest_and_send_each_mail_once(postgres_config, app, smtp_server, clock):
    start_at_the_wall_clock(clock)
    emails = queue_digest(app, queue.CLAIM_BATCH + 100)  # more than one claim: the second worker gets some
    smtp_server.hold_replies()  # each connection's first mail waits for its reply ...
    workers = [worker_process(app, smtp_server.port) for _ in range(2)]
    with workers[0], workers[1]:
        smtp_server.wait_for_sessions(2 * CONCURRENCY)  # ... until both workers have claimed mail and connected
        smtp_server.release_replies()
        smtp_server.wait_for(len(emails))
        for worker in workers:  # a stop lets the mails in flight finish: every outcome is stored
            worker.terminate()
        outputs = [worker.finish() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert len(set(smtp_server.handler.peers)) == 2 * CONCURRENCY  # both workers sent
    counts = smtp_server.handler.recipient_counts()
    assert counts == dict.fromkeys(emails, 1)
    assert statuses(app) == {DeliveryStatus.SENT: len(emails)}


def test_sigterm_finishes_the_mails_in_flight_and_gives_the_rest_back(postgres_config, app, smtp_server, clock):
    start_at_the_wall_clock(clock)
    emails = queue_digest(app, 400)
    worker = worker_process(app, smtp_server.port)

    def stop_at_the_100th(count: int) -> None:
        if count == 100:  # SIGTERM while this mail waits for its reply; the relay answers none for now
            smtp_server.hold_replies()
            worker.terminate()

    smtp_server.handler.on_message = stop_at_the_100th
    with worker:
        smtp_server.wait_for(100)
        # The worker says so once it has asked its sender to stop: no further mail is handed over.
        worker.wait_for_output("finishing the mails in flight")
        smtp_server.release_replies()
        output = worker.finish()
    assert worker.returncode == 0, output
    assert "Traceback" not in output
    after_stop = statuses(app)
    assert DeliveryStatus.SENDING not in after_stop  # nothing left half-claimed
    assert after_stop[DeliveryStatus.SENT] == len(smtp_server.messages)
    assert 100 <= len(smtp_server.messages) < 100 + CONCURRENCY  # only the mails in flight went on
    send_once_the_leases_ran_out(app, clock)
    assert smtp_server.handler.recipient_counts() == dict.fromkeys(emails, 1)


def drop_database_connections(uri: str) -> None:
    """End every other session on the test's PostgreSQL database, as a database restart would."""
    with psycopg.connect(uri.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )


def test_outcomes_that_cannot_be_stored_stop_the_sending(postgres_config, app, smtp_server, clock):
    """Every mail handed over with its outcome unstored goes out again later; so once a store
    fails, nothing more is handed over, and the repeat stays at one mail per connection."""
    emails = queue_digest(app, 400)
    concurrency = app.config["MAIL_CONCURRENCY"]
    smtp_server.handler.on_message = lambda count: count == 100 and drop_database_connections(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    with app.app_context(), Sender(app) as sender:
        sender.drain()
        assert sender.store_failed.is_set()
    stopped_at = len(smtp_server.messages)
    assert 100 <= stopped_at < 100 + concurrency
    smtp_server.handler.on_message = None
    send_once_the_leases_ran_out(app, clock)
    counts = smtp_server.handler.recipient_counts()
    assert set(counts) == set(emails)
    assert sum(counts.values()) - len(emails) <= concurrency


def test_mail_goes_out_over_mail_concurrency_connections(smtp_app, smtp_server):
    queue_digest(smtp_app, 200)
    with smtp_app.app_context():
        assert sender.drain().sent == 200
    assert len(set(smtp_server.handler.peers)) == smtp_app.config["MAIL_CONCURRENCY"] == 4


def test_ehlo_names_this_host_or_the_address_the_relay_sees(smtp_app, smtp_server):
    """RFC 5321 §4.1.4: a fully qualified name, else the address literal of the client's end."""
    queue_digest(smtp_app, 8)
    with smtp_app.app_context():
        assert sender.drain().sent == 8
    assert smtp_server.handler.ehlo_names
    for name, client in smtp_server.handler.ehlo_names:
        assert name == f"[{client}]" or ("." in name and not name.startswith("[")), name
    if "." not in socket.getfqdn():  # the literal is the connection's own end, never a fixed one
        assert smtp._ehlo_name(("192.0.2.7", 40000)) == "[192.0.2.7]"
        assert smtp._ehlo_name(("2001:db8::7", 40000, 0, 0)) == "[IPv6:2001:db8::7]"


def test_a_relay_down_for_a_while_delays_mail_but_loses_nothing(smtp_app, visitor, smtp_server, clock):
    """Neither a sign-up nor a digest fails for it: their mails wait, no attempt counted."""
    smtp_server.stop()
    assert visitor.sign_up("ann@example.org").status_code == 200
    emails = queue_digest(smtp_app, 60)
    report = drain(smtp_app)
    assert (report.sent, report.retrying) == (0, 61)
    with smtp_app.app_context():
        rows = db.session.execute(select(Delivery.attempts, Delivery.status)).all()
    assert set(rows) == {(0, DeliveryStatus.RETRYING)}  # never reached the relay: no attempt
    assert "connection" in delivery_to(smtp_app, "ann@example.org").last_reply
    smtp_server.start()
    assert drain(smtp_app).attempted == 0  # not due yet
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    assert drain(smtp_app).sent == 61
    assert drain(smtp_app).attempted == 0
    assert smtp_server.handler.recipient_counts() == dict.fromkeys(["ann@example.org", *emails], 1)
    assert statuses(smtp_app) == {DeliveryStatus.SENT: 61}


def test_a_hard_bounce_fails_that_mail_only_for_good_and_suspends_the_subscriber(
    smtp_app, smtp_server, runner, clock
):
    emails = queue_digest(smtp_app, 3)
    smtp_server.handler.rcpt_replies[emails[1]] = "550 5.1.1 mailbox unavailable"
    report = drain(smtp_app)
    assert (report.sent, report.failed) == (2, 1)  # the others are not held up
    assert smtp_server.handler.recipient_counts() == {emails[0]: 1, emails[2]: 1}
    with smtp_app.app_context():
        bounced = subscribers.find_by_email(emails[1])
        assert bounced.status is SubscriberStatus.SUSPENDED and bounced.bounce_count == 1
        failed = db.session.execute(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)).scalar_one()
        assert failed.last_reply == "550 5.1.1 mailbox unavailable"
    assert json.loads(runner.invoke(args=["export-subscriber", emails[1]]).output)["status"] == "suspended"
    clock.advance(days=2)
    assert drain(smtp_app).attempted == 0  # never tried again
    with smtp_app.app_context():  # the next digest leaves the suspended address out
        add_article("Second issue")
        assert digest.build_digest(DigestTrigger.COMMAND).recipient_count == 2
        db.session.commit()


def test_bounce_limit_counts_hard_bounces_before_suspending(smtp_config, app, smtp_server):
    app.config["BOUNCE_LIMIT"] = 2
    emails = queue_digest(app, 1)
    smtp_server.handler.rcpt_replies[emails[0]] = "550 5.1.1 mailbox unavailable"
    with app.app_context():
        sender.drain()
        subscriber = subscribers.find_by_email(emails[0])
        assert subscriber.status is SubscriberStatus.CONFIRMED and subscriber.bounce_count == 1


def test_4xx_replies_are_retried_with_backoff(smtp_app, smtp_server, clock):
    emails = queue_digest(smtp_app, 2)
    greylisted = emails[0]
    smtp_server.handler.rcpt_replies[greylisted] = "451 4.7.1 greylisted, try later"
    assert drain(smtp_app).retrying == 1
    row = delivery_to(smtp_app, greylisted)
    assert row.status is DeliveryStatus.RETRYING and row.attempts == 1
    assert row.last_reply.startswith("451")
    assert row.next_attempt_at == clock.now() + timedelta(seconds=outcomes.BACKOFF_SECONDS[0])
    assert drain(smtp_app).attempted == 0  # waits for its backoff
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    drain(smtp_app)
    row = delivery_to(smtp_app, greylisted)
    assert row.attempts == 2
    assert (row.next_attempt_at - clock.now()).total_seconds() == outcomes.BACKOFF_SECONDS[1]
    del smtp_server.handler.rcpt_replies[greylisted]
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[1])
    assert drain(smtp_app).sent == 1
    assert smtp_server.handler.recipient_counts() == dict.fromkeys(emails, 1)
    assert delivery_to(smtp_app, greylisted).status is DeliveryStatus.SENT


def test_temporary_failures_give_up_after_the_last_backoff(smtp_app, visitor, smtp_server, clock):
    smtp_server.handler.data_reply = "452 4.3.1 insufficient storage"
    visitor.sign_up("ann@example.org")
    for delay in (0, *outcomes.BACKOFF_SECONDS):
        clock.advance(seconds=delay)
        drain(smtp_app)
    row = delivery_to(smtp_app, "ann@example.org")
    assert row.status is DeliveryStatus.FAILED
    assert row.attempts == len(outcomes.BACKOFF_SECONDS) + 1


def test_a_crashed_senders_mails_go_out_once_its_lease_ends_to_those_still_subscribed(
    smtp_app, smtp_server, clock
):
    emails = queue_digest(smtp_app, 2)
    with smtp_app.app_context():
        assert len(queue.claim()) == 2  # a sender takes both mails and dies ...
        subscribers.find_by_email(emails[0]).status = SubscriberStatus.SUSPENDED  # ... and a bounce suspends one
        db.session.commit()
    assert drain(smtp_app).attempted == 0  # nobody else sends them while the lease runs
    clock.advance(seconds=smtp_app.config["SEND_LEASE_SECONDS"] + 1)
    report = drain(smtp_app)  # taken again, and who may still have them is checked again
    assert (report.sent, report.cancelled) == (1, 1)
    assert smtp_server.handler.recipient_counts() == {emails[1]: 1}


def test_the_token_bucket_paces_without_real_waiting():
    now = [0.0]
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(30):
        bucket.acquire()
    # 10 at once (the burst), then one every 0.1 s: 20 more take 2 s
    assert now[0] == pytest.approx(2.0)
    assert len(slept) == 20


def test_mail_rate_limit_configures_the_senders_bucket(smtp_config, app):
    app.config["MAIL_RATE_LIMIT"] = 25
    assert Sender(app).bucket.rate == 25
    app.config["MAIL_RATE_LIMIT"] = None
    assert Sender(app).bucket is None


def test_send_digest_on_postgresql_sends_from_several_processes_each_mail_once(postgres_config, app, smtp_server):
    with app.app_context():
        emails = add_readers(600)
        add_article("Neuigkeiten")
        db.session.commit()
    with flask_process(app, smtp_server.port, "send-digest", SEND_PROCESSES=2) as command:
        output = command.finish()
    assert command.returncode == 0, output
    assert "queued 600, sent 600, failed 0" in output, output
    assert smtp_server.handler.recipient_counts() == dict.fromkeys(emails, 1)
    # MAIL_CONCURRENCY (4) stays the total: two connections in each of the two processes
    assert len(set(smtp_server.handler.peers)) == 4
    assert statuses(app) == {DeliveryStatus.SENT: 600}


def test_sqlite_sends_from_one_process_whatever_send_processes_says(smtp_config, app):
    from newsletter.delivery import pool

    app.config["SEND_PROCESSES"] = 4
    with app.app_context():
        expected = 4 if db.engine.dialect.name == "postgresql" else 1
        assert pool.process_count(app) == expected


def test_connections_and_rate_are_divided_between_the_processes(smtp_config, app):
    from newsletter.delivery.pool import SendPool

    app.config.update(MAIL_CONCURRENCY=5, MAIL_RATE_LIMIT=30)
    pool = SendPool(app, 2)
    first, second = pool.sender(0), pool.sender(1)
    assert (first.concurrency, second.concurrency) == (3, 2)
    assert first.bucket.rate == second.bucket.rate == 15


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-command-at-a-time"])
def test_relays_with_and_without_pipelining_get_every_mail_once(smtp_app, smtp_server, pipelining):
    smtp_server.handler.pipelining = pipelining
    emails = queue_digest(smtp_app, 40)
    smtp_server.handler.rcpt_replies[emails[3]] = "550 5.1.1 mailbox unavailable"
    smtp_server.handler.rcpt_replies[emails[4]] = "451 4.7.1 greylisted"
    with smtp_app.app_context():
        report = sender.drain()
    assert (report.sent, report.failed, report.retrying) == (38, 1, 1)
    expected = dict.fromkeys(emails, 1)
    del expected[emails[3]], expected[emails[4]]
    assert smtp_server.handler.recipient_counts() == expected
    assert (smtp_server.handler.pipelined_sessions > 0) is pipelining


def test_a_refused_sender_address_holds_the_mail_back_and_bounces_nobody(smtp_app, smtp_server, clock):
    emails = queue_digest(smtp_app, 5)
    smtp_server.handler.mail_from_reply = "550 5.7.1 sender not allowed"
    with smtp_app.app_context():
        report = sender.drain()
        assert report.sent == 0 and report.failed == 0
        rows = db.session.execute(select(Delivery.attempts, Delivery.status)).all()
        assert set(rows) == {(0, DeliveryStatus.RETRYING)}  # our configuration, not the readers' fault
        assert {subscribers.find_by_email(e).status for e in emails} == {SubscriberStatus.CONFIRMED}
        db.session.commit()
    smtp_server.handler.mail_from_reply = None
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    with smtp_app.app_context():
        assert sender.drain().sent == 5


def test_send_digest_from_several_processes_reports_a_relay_that_is_down(postgres_config, app, smtp_server):
    with app.app_context():
        add_readers(50)
        add_article("Neuigkeiten")
        db.session.commit()
    smtp_server.stop()
    with flask_process(app, smtp_server.port, "send-digest", SEND_PROCESSES=2) as command:
        output = command.finish()
    assert command.returncode == 0, output
    assert "the worker (flask worker) retries the rest" in output
    assert statuses(app) == {DeliveryStatus.RETRYING: 50}


def test_send_digest_stops_with_a_clear_error_when_the_database_fails(postgres_config, app, smtp_server):
    with app.app_context():
        emails = add_readers(400)
        add_article("Neuigkeiten")
        db.session.commit()
    smtp_server.handler.on_message = lambda count: count == 100 and drop_database_connections(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    # One process: with several, one that reconnects in time may rightly go on alone.
    with flask_process(app, smtp_server.port, "send-digest", SEND_PROCESSES=1) as command:
        output = command.finish()
    assert command.returncode == 1, output
    assert "the database failed while sending" in output and "Traceback" not in output
    assert 100 <= len(smtp_server.messages) < 100 + 4  # MAIL_CONCURRENCY in flight at most
    assert set(smtp_server.handler.recipient_counts()) < set(emails)

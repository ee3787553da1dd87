"""The sending pipeline: no mail lost, none repeated beyond the mails in flight, work shared
between workers, bounces counted, withdrawals honoured mid-send (issue 4).

The tests that kill or run several worker processes need PostgreSQL (SKIP LOCKED across
processes); they use the server in NEWSLETTER_TEST_POSTGRES_URI and skip loudly without it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from newsletter import consent, digest, subscribers
from newsletter.delivery import outcomes, sender
from newsletter.delivery.pacing import TokenBucket
from newsletter.delivery.sender import Sender
from newsletter.delivery.transports import smtp
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, DigestTrigger, SubscriberStatus
from tests.support import services
from tests.support.factories import add_article

ROOT = Path(__file__).resolve().parent.parent


def add_readers(count: int, start: int = 0) -> list[str]:
    """``count`` confirmed subscribers, inserted in bulk; returns their addresses."""
    when = datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
    emails = [f"reader{i}@example.org" for i in range(start, start + count)]
    consent.import_confirmed([
        consent.ImportedConsent(email=email, locale="de", source="test", ip=None, consented_at=when, confirmed_at=when)
        for email in emails
    ])
    return emails


def queue_digest(app, readers: int) -> list[str]:
    with app.app_context():
        emails = add_readers(readers)
        add_article("Neuigkeiten")
        digest.build_digest(DigestTrigger.COMMAND)
        db.session.commit()
    return emails


def statuses(app) -> dict[DeliveryStatus, int]:
    with app.app_context():
        rows = db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        db.session.commit()
    return dict(rows)


@pytest.fixture
def smtp_app(smtp_config, app):
    return app


@pytest.fixture
def postgres_config(smtp_config):
    """Settings on the PostgreSQL server, whatever database the rest of the suite uses."""
    uri = services.postgres_uri()
    services.require(services.reachable(uri), "PostgreSQL (127.0.0.1:5432)")
    smtp_config["SQLALCHEMY_DATABASE_URI"] = uri
    return smtp_config


def flask_process(app, smtp_port: int, command: str, **settings) -> subprocess.Popen:
    """``flask --app wsgi COMMAND`` in a process of its own, on the test's database and relay."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))}
    env.update(
        NEWSLETTER_SECRET_KEY=app.config["SECRET_KEY"],
        NEWSLETTER_SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        NEWSLETTER_INSTANCE_PATH=app.instance_path,
        NEWSLETTER_MAIL_BACKEND="smtp",
        NEWSLETTER_MAIL_SERVER="127.0.0.1",
        NEWSLETTER_MAIL_PORT=str(smtp_port),
        NEWSLETTER_MAIL_CONCURRENCY="4",
        NEWSLETTER_SEND_INTERVAL_SECONDS="0.2",
        NEWSLETTER_BASE_URL=app.config["BASE_URL"],
        # no digest of its own: the worker only sends what the test queued
        NEWSLETTER_DIGEST_SCHEDULE="0 0 1 1 *",
        **{f"NEWSLETTER_{key}": str(value) for key, value in settings.items()},
    )
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", command],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def worker_process(app, smtp_port: int, **settings) -> subprocess.Popen:
    return flask_process(app, smtp_port, "worker", **settings)


def wait_until_recorded(app, timeout: float = 60) -> None:
    """Wait for the worker processes to record their last outcomes (they run on the wall clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_rows = sum(statuses(app).get(status, 0) for status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING))
        if open_rows == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"deliveries still open: {statuses(app)}")


def restart_after_lease(app, clock) -> outcomes.SendReport:
    """A new sender, started once the dead sender's leases ran out."""
    clock.set(datetime.now(UTC) + timedelta(seconds=app.config["SEND_LEASE_SECONDS"] + 1))
    with app.app_context():
        return sender.drain()


def test_a_killed_sender_loses_nothing_and_repeats_at_most_one_mail_per_connection(
    postgres_config, app, smtp_server, clock
):
    emails = queue_digest(app, 3000)
    worker = worker_process(app, smtp_server.port)
    try:
        smtp_server.wait_for(1000, timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)
    killed_at = len(smtp_server.messages)
    assert 1000 <= killed_at < 3000, "the kill should land in the middle of the digest"
    report = restart_after_lease(app, clock)
    counts = smtp_server.handler.recipient_counts()
    assert set(counts) == set(emails)  # everyone has the digest
    twice = [email for email, n in counts.items() if n > 1]
    assert all(n <= 2 for n in counts.values())
    assert len(twice) <= 4, f"{len(twice)} repeated, MAIL_CONCURRENCY is 4"
    assert report.sent == 3000 - killed_at + len(twice)
    assert statuses(app) == {DeliveryStatus.SENT: 3000}


def test_two_workers_share_a_digest_and_send_each_mail_once(postgres_config, app, smtp_server):
    emails = queue_digest(app, 3000)
    workers = [worker_process(app, smtp_server.port) for _ in range(2)]
    try:
        smtp_server.wait_for(3000, timeout=120)
        wait_until_recorded(app)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=30)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    counts = smtp_server.handler.recipient_counts()
    assert counts == dict.fromkeys(emails, 1)
    assert statuses(app) == {DeliveryStatus.SENT: 3000}


def test_sigterm_finishes_the_mails_in_flight_and_gives_the_rest_back(postgres_config, app, smtp_server, clock):
    emails = queue_digest(app, 3000)
    worker = worker_process(app, smtp_server.port)
    try:
        smtp_server.wait_for(500, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "Traceback" not in output
    after_stop = statuses(app)
    assert DeliveryStatus.SENDING not in after_stop  # nothing left half-claimed
    assert after_stop[DeliveryStatus.SENT] == len(smtp_server.messages)
    restart_after_lease(app, clock)
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
    restart_after_lease(app, clock)
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


def test_a_relay_down_for_a_while_delays_the_digest_but_loses_nothing(smtp_app, smtp_server, clock):
    emails = queue_digest(smtp_app, 60)
    smtp_server.stop()
    with smtp_app.app_context():
        report = sender.drain()
    assert report.sent == 0 and report.retrying == 60
    with smtp_app.app_context():
        rows = db.session.execute(select(Delivery.attempts, Delivery.status)).all()
    assert set(rows) == {(0, DeliveryStatus.RETRYING)}  # never reached the relay: no attempt
    smtp_server.start()
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    with smtp_app.app_context():
        assert sender.drain().sent == 60
    assert smtp_server.handler.recipient_counts() == dict.fromkeys(emails, 1)


def test_a_hard_bounce_fails_the_delivery_and_suspends_the_subscriber(smtp_app, smtp_server, runner, clock):
    emails = queue_digest(smtp_app, 3)
    smtp_server.handler.rcpt_replies[emails[1]] = "550 5.1.1 mailbox unavailable"
    with smtp_app.app_context():
        report = sender.drain()
    assert (report.sent, report.failed) == (2, 1)
    with smtp_app.app_context():
        bounced = subscribers.find_by_email(emails[1])
        assert bounced.status is SubscriberStatus.SUSPENDED and bounced.bounce_count == 1
        failed = db.session.execute(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)).scalar_one()
        assert failed.last_reply == "550 5.1.1 mailbox unavailable"
    assert json.loads(runner.invoke(args=["export-subscriber", emails[1]]).output)["status"] == "suspended"
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


def test_a_subscriber_who_withdraws_mid_send_gets_nothing_more(smtp_app, smtp_server):
    emails = queue_digest(smtp_app, 300)
    with smtp_app.app_context(), Sender(smtp_app) as sender:
        assert sender.send_batch(limit=100).sent == 100
        late = subscribers.find_by_email(emails[250])
        assert subscribers.withdraw(late, "one-click")
        db.session.commit()
        rest = sender.drain()
    assert rest.sent == 199
    counts = smtp_server.handler.recipient_counts()
    assert emails[250] not in counts and len(counts) == 299


def test_4xx_on_a_digest_is_retried_with_backoff(smtp_app, smtp_server, clock):
    emails = queue_digest(smtp_app, 2)
    smtp_server.handler.rcpt_replies[emails[0]] = "451 4.7.1 greylisted"
    with smtp_app.app_context():
        assert sender.drain().retrying == 1
    del smtp_server.handler.rcpt_replies[emails[0]]
    with smtp_app.app_context():
        assert sender.drain().attempted == 0  # waits for its backoff
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    with smtp_app.app_context():
        assert sender.drain().sent == 1
    assert smtp_server.handler.recipient_counts() == dict.fromkeys(emails, 1)


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
    command = flask_process(app, smtp_server.port, "send-digest", SEND_PROCESSES=2)
    output, _ = command.communicate(timeout=120)
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
    command = flask_process(app, smtp_server.port, "send-digest", SEND_PROCESSES=2)
    output, _ = command.communicate(timeout=120)
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
    command = flask_process(app, smtp_server.port, "send-digest", SEND_PROCESSES=1)
    output, _ = command.communicate(timeout=120)
    assert command.returncode == 1, output
    assert "the database failed while sending" in output and "Traceback" not in output
    assert 100 <= len(smtp_server.messages) < 100 + 4  # MAIL_CONCURRENCY in flight at most
    assert set(smtp_server.handler.recipient_counts()) < set(emails)

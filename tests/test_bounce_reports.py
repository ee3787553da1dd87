"""Reports that come back after the relay said 250 (issue 17 points 2 and 3): the listener
takes them over real SMTP for BOUNCE_ADDRESS and its VERP addresses only and stores them;
processing them charges hard and soft bounces, withdraws and suppresses on a complaint, and
keeps out-of-office replies and garbage without changing anything. Every outcome shows in the
subscriber's page, the export and the digest's counts. Runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import smtplib
import socket

import pytest
from sqlalchemy import select

from newsletter import bounce_listener, bounce_reports, suppression
from newsletter.delivery import verp
from newsletter.extensions import db
from newsletter.models import BounceEvent, BounceReport, Delivery, ReportKind, Subscriber, SubscriberStatus
from tests.support import reports
from tests.support.flows import drain, queue_digest, status_of, subscriber_id, withdrawals
from tests.support.processes import flask_process
from tests.support.smtp import free_port

READER = "reader0@example.org"


@pytest.fixture(autouse=True)
def report_config(config) -> dict:
    """Before ``app`` is made, whatever order a test names its fixtures in."""
    config.update(
        BOUNCE_ADDRESS="bounces@example.org",
        BOUNCE_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
        SOFT_BOUNCE_LIMIT=2,
        SOFT_BOUNCE_WINDOW_DAYS=7,
    )
    return config


@pytest.fixture
def listener(report_config, app) -> int:
    """The bounce listener of ``app`` on loopback; its port."""
    controller = bounce_listener.start(app)
    yield int(report_config["BOUNCE_SMTP_LISTEN"].rsplit(":", 1)[1])
    controller.stop()


def sent_digest(app) -> Delivery:
    """A digest sent to READER (and one other reader); READER's delivery."""
    queue_digest(app, 2)
    drain(app)
    with app.app_context():
        delivery = db.session.execute(
            select(Delivery).join(Subscriber).where(Subscriber.email == READER)
        ).scalar_one()
        db.session.expunge_all()
    return delivery


def verp_address(app, delivery: Delivery) -> str:
    with app.app_context():
        return verp.from_config(app.config).address(delivery.id)


def process(app) -> list[BounceReport]:
    """The worker's processing step; every report, oldest first."""
    with app.app_context():
        bounce_reports.process_waiting()
        found = list(db.session.execute(select(BounceReport).order_by(BounceReport.id)).scalars())
        db.session.expunge_all()
        return found


def bounce_events(app, email: str = READER) -> list[tuple[str, str | None, int | None]]:
    with app.app_context():
        return [
            (str(event.kind), event.status, event.digest_id)
            for event in db.session.execute(
                select(BounceEvent).join(Subscriber).where(Subscriber.email == email).order_by(BounceEvent.id)
            ).scalars()
        ]


def test_a_hard_bounce_dsn_to_the_verp_address_suspends_and_shows_everywhere(app, listener, admin_client, runner):
    delivery = sent_digest(app)
    refused = reports.send_report(listener, verp_address(app, delivery), reports.dsn(READER, "5.1.1"))
    assert refused == {}
    [report] = process(app)
    assert report.kind is ReportKind.HARD and report.delivery_id == delivery.id
    assert "VERP" in report.note
    reader = subscriber_id(app, READER)
    assert status_of(app, reader) is SubscriberStatus.SUSPENDED
    assert bounce_events(app) == [("hard", "5.1.1", delivery.digest_id)]
    # the subscriber's history in the admin
    page = admin_client.get(f"/admin/subscribers/{reader}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "hard bounce" in page and "5.1.1" in page and "a report that came back" in page
    # the export
    exported = json.loads(runner.invoke(args=["export-subscriber", READER]).output)
    assert exported["status"] == "suspended"
    assert [(b["kind"], b["status"], b["from_report"]) for b in exported["bounces"]] == [("hard", "5.1.1", True)]
    # the digest's counts
    counts = admin_client.get(f"/admin/digests/{delivery.digest_id}/progress.json").get_json()
    assert counts["bounced"] == 1 and counts["complaints"] == 0


def test_soft_bounces_suspend_at_the_limit_within_the_window(app, listener, clock):
    delivery = sent_digest(app)
    address = verp_address(app, delivery)
    reader = subscriber_id(app, READER)
    reports.send_report(listener, address, reports.dsn(READER, "4.2.2", diagnostic="452 4.2.2 Mailbox full"))
    process(app)
    assert status_of(app, reader) is SubscriberStatus.CONFIRMED  # one of SOFT_BOUNCE_LIMIT 2
    clock.advance(days=8)  # the first one falls out of the 7-day window
    reports.send_report(listener, address, reports.dsn(READER, "4.4.7", action="delayed"))
    process(app)
    assert status_of(app, reader) is SubscriberStatus.CONFIRMED
    clock.advance(days=1)
    reports.send_report(listener, address, reports.dsn(READER, "4.4.1"))
    process(app)
    assert status_of(app, reader) is SubscriberStatus.SUSPENDED
    assert [kind for kind, _, _ in bounce_events(app)] == ["soft", "soft", "soft"]
    with app.app_context():
        assert db.session.get(Subscriber, reader).bounce_count == 0  # no hard bounce among them


def test_a_refusal_of_the_message_counts_no_bounce(app, listener):
    delivery = sent_digest(app)
    reports.send_report(
        listener, verp_address(app, delivery), reports.dsn(READER, "5.7.1", diagnostic="554 5.7.1 spam content")
    )
    [report] = process(app)
    assert report.kind is ReportKind.MESSAGE
    assert status_of(app, subscriber_id(app, READER)) is SubscriberStatus.CONFIRMED
    assert bounce_events(app) == [("message", "5.7.1", delivery.digest_id)]


def test_an_arf_complaint_withdraws_with_channel_complaint_and_suppresses(app, listener, admin_client):
    delivery = sent_digest(app)
    reports.send_report(listener, "bounces@example.org", reports.arf(READER, delivery.message_id))
    [report] = process(app)
    assert report.kind is ReportKind.COMPLAINT and "Message-ID" in report.note
    reader = subscriber_id(app, READER)
    assert status_of(app, reader) is SubscriberStatus.WITHDRAWN
    assert withdrawals(app, reader) == ["complaint"]
    with app.app_context():
        assert suppression.is_suppressed(READER)
    assert [kind for kind, _, _ in bounce_events(app)] == ["complaint"]
    counts = admin_client.get(f"/admin/digests/{delivery.digest_id}/progress.json").get_json()
    assert counts["complaints"] == 1


def test_a_complaint_naming_only_an_address_changes_nothing(app, listener):
    sent_digest(app)
    reports.send_report(listener, "bounces@example.org", reports.arf(READER, "<forged@elsewhere.example>"))
    [report] = process(app)
    assert report.kind is ReportKind.COMPLAINT and "nothing changed" in report.note
    assert status_of(app, subscriber_id(app, READER)) is SubscriberStatus.CONFIRMED


def test_without_verp_the_quoted_message_id_then_the_address_find_the_subscriber(app, listener):
    delivery = sent_digest(app)
    reports.send_report(listener, "bounces@example.org", reports.dsn(READER, "5.1.1", message_id=delivery.message_id))
    reports.send_report(listener, "bounces@example.org", reports.qmail_bounce("reader1@example.org"))
    by_id, by_address = process(app)
    assert (by_id.kind, by_id.delivery_id) == (ReportKind.HARD, delivery.id) and "Message-ID" in by_id.note
    assert by_address.kind is ReportKind.HARD and "address" in by_address.note
    assert status_of(app, subscriber_id(app, "reader1@example.org")) is SubscriberStatus.SUSPENDED


@pytest.mark.parametrize(
    "data, kind",
    [(reports.out_of_office(READER), ReportKind.AUTO_REPLY), (reports.GARBAGE, ReportKind.UNKNOWN)],
    ids=["out-of-office", "garbage"],
)
def test_out_of_office_and_garbage_are_kept_and_change_nothing(app, listener, data, kind):
    delivery = sent_digest(app)
    reports.send_report(listener, verp_address(app, delivery), data, mail_from=READER)
    [report] = process(app)
    assert report.kind is kind and report.raw == data
    assert "nothing changed" in report.note
    assert status_of(app, subscriber_id(app, READER)) is SubscriberStatus.CONFIRMED
    assert bounce_events(app) == []


@pytest.mark.parametrize(
    "recipient",
    [
        "postmaster@example.org", "bounces+1-aaaaaaaaaaaaaaaa@example.org", "bounces@other.example",
        "reader0@example.org",
    ],
)
def test_mail_to_any_other_address_is_refused_and_nothing_stored(app, listener, recipient):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        reports.send_report(listener, recipient, reports.dsn(READER, "5.1.1"))
    assert refused.value.recipients[recipient][0] == 550
    with app.app_context():
        assert db.session.execute(select(BounceReport)).first() is None


def test_a_report_is_processed_once_and_reports_are_kept_for_the_admin(app, listener):
    delivery = sent_digest(app)
    reports.send_report(listener, verp_address(app, delivery), reports.dsn(READER, "5.1.1"))
    process(app)
    process(app)
    assert len(bounce_events(app)) == 1


def test_a_report_with_a_forged_verp_token_is_refused(app, listener):
    delivery = sent_digest(app)
    address = verp_address(app, delivery)
    local, _, domain = address.partition("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        reports.send_report(listener, forged, reports.dsn(READER, "5.1.1"))
    # the same token in other case is still ours (servers may change the case of local parts)
    assert reports.send_report(listener, address.upper(), reports.dsn(READER, "5.1.1")) == {}


def test_soft_bounce_window_uses_the_clock(app, listener, clock):
    """The window counts back from the report's processing time (the app's clock)."""
    delivery = sent_digest(app)
    address = verp_address(app, delivery)
    for _ in range(2):
        reports.send_report(listener, address, reports.dsn(READER, "4.2.2"))
        process(app)
        clock.advance(days=8)
    assert status_of(app, subscriber_id(app, READER)) is SubscriberStatus.CONFIRMED


def test_a_worker_killed_right_after_accepting_a_report_loses_nothing(app, report_config):
    delivery = sent_digest(app)
    worker = flask_process(
        app, free_port(), "worker",
        BOUNCE_ADDRESS=report_config["BOUNCE_ADDRESS"], BOUNCE_SMTP_LISTEN=report_config["BOUNCE_SMTP_LISTEN"],
    )
    port = int(report_config["BOUNCE_SMTP_LISTEN"].rsplit(":", 1)[1])
    with worker:
        worker.wait_for_output("bounce listener on")
        assert reports.send_report(port, verp_address(app, delivery), reports.dsn(READER, "5.1.1")) == {}
        worker.kill()  # SIGKILL the moment the 250 arrived
        worker.finish()
    with app.app_context():
        [stored] = db.session.execute(select(BounceReport)).scalars()
        assert stored.raw == reports.dsn(READER, "5.1.1")
        db.session.commit()
    process(app)  # whether the worker got to it or not
    assert status_of(app, subscriber_id(app, READER)) is SubscriberStatus.SUSPENDED
    assert len(bounce_events(app)) == 1


def test_the_admin_sees_every_report_escaped_with_what_it_did(app, listener, admin_client):
    delivery = sent_digest(app)
    reports.send_report(listener, verp_address(app, delivery), reports.GARBAGE)
    reports.send_report(listener, verp_address(app, delivery), reports.dsn(READER, "5.1.1"))
    first, second = process(app)
    listing = admin_client.get("/admin/bounce-reports", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "not readable" in listing and "hard bounce" in listing
    assert "kept, nothing changed" in listing
    detail = admin_client.get(f"/admin/bounce-reports/{first.id}", headers={"Accept-Language": "en"})
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert admin_client.get("/admin/bounce-reports/999999").status_code == 404


def test_a_report_that_cannot_be_stored_is_not_answered_250(app, listener):
    """The sending server must keep it and try again: a 451, never a 250 for a lost report."""
    delivery = sent_digest(app)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        with db.engine.begin() as connection:  # every insert into bounce_report fails from now on
            if postgres:
                connection.exec_driver_sql(
                    "ALTER TABLE bounce_report ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"
                )
            else:
                connection.exec_driver_sql("DROP TABLE bounce_report")
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            reports.send_report(listener, verp_address(app, delivery), reports.dsn(READER, "5.1.1"))
        assert refused.value.smtp_code == 451
    finally:
        if postgres:
            with app.app_context(), db.engine.begin() as connection:
                connection.exec_driver_sql("ALTER TABLE bounce_report DROP CONSTRAINT refuse_all")


def test_a_never_confirmed_sign_up_whose_confirmation_bounced_is_purged_whole(app, listener, visitor, runner, clock):
    visitor.sign_up("gone@example.org")
    drain(app)
    with app.app_context():
        confirmation = db.session.execute(select(Delivery)).scalar_one()
        address = verp.from_config(app.config).address(confirmation.id)
    reports.send_report(listener, address, reports.dsn("gone@example.org", "5.1.1"))
    [report] = process(app)
    assert report.kind is ReportKind.HARD and bounce_events(app, "gone@example.org") == [("hard", "5.1.1", None)]
    clock.advance(days=app.config["UNCONFIRMED_RETENTION_DAYS"] + 1)
    output = runner.invoke(args=["purge"]).output
    assert "deleted 1 never-confirmed sign-ups" in output, output
    with app.app_context():
        assert db.session.execute(select(BounceEvent)).first() is None
        kept = db.session.get(BounceReport, report.id)
        assert (kept.subscriber_id, kept.delivery_id, kept.raw, kept.kind) == (None, None, b"", ReportKind.HARD)


def test_reports_are_emptied_ninety_days_after_processing(app, listener, runner, clock):
    delivery = sent_digest(app)
    reports.send_report(listener, verp_address(app, delivery), reports.out_of_office(READER))
    [report] = process(app)
    clock.advance(days=bounce_reports.RAW_KEPT_DAYS - 1)
    assert "emptied 0 bounce reports" in runner.invoke(args=["purge"]).output
    clock.advance(days=2)
    assert "emptied 1 bounce reports" in runner.invoke(args=["purge"]).output
    with app.app_context():
        kept = db.session.get(BounceReport, report.id)
        assert (kept.raw, kept.recipients, kept.kind) == (b"", [], ReportKind.AUTO_REPLY)
        assert "nothing changed" in kept.note


def test_the_worker_says_clearly_when_it_cannot_listen(app, report_config, runner):
    host, port = report_config["BOUNCE_SMTP_LISTEN"].rsplit(":", 1)
    with socket.create_server((host, int(port))):  # somebody else has the port
        result = runner.invoke(args=["worker"])
    assert result.exit_code == 1
    assert f"BOUNCE_SMTP_LISTEN {host}:{port}: cannot listen there" in result.output
    assert "Traceback" not in result.output

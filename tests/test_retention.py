"""Retention (COMPLIANCE items 16, 36, note D3/D4): never-confirmed sign-ups go after
UNCONFIRMED_RETENTION_DAYS, withdrawn consent's evidence after EVIDENCE_RETENTION_DAYS, the
mail caps' hashes after a day; ``flask purge`` and the worker's daily job, once per day."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter import scheduler, subscribers, suppression
from newsletter.extensions import db
from newsletter.models import (
    ConsentEvent,
    Delivery,
    DoiSend,
    JobRun,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.support.flows import drain, sign_up, sign_up_and_confirm, subscriber_id
from tests.support.visitor import Visitor, confirm_link


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def purge(runner) -> str:
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    return result.output


def test_never_confirmed_sign_ups_go_after_the_retention_period(app, runner, visitor, outbox, clock, tmp_path):
    stale_link = sign_up(app, visitor, outbox, "pending@example.org").split("news.example.org", 1)[1]
    bob = sign_up_and_confirm(app, visitor, outbox, "bob@example.org")
    csv = tmp_path / "list.csv"
    csv.write_text(
        "email,consented_at,confirmed_at,ip,source\n"
        "carl@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,shop\n",
        encoding="utf-8",
    )
    runner.invoke(args=["import-subscribers", str(csv)])

    clock.advance(days=app.config["UNCONFIRMED_RETENTION_DAYS"], minutes=-1)
    assert "deleted 0 never-confirmed sign-ups" in purge(runner)
    clock.advance(minutes=2)
    output = purge(runner)
    assert "deleted 1 never-confirmed sign-ups (1 consent events, 1 mails)" in output
    assert "@" not in output

    with app.app_context():
        remaining = db.session.execute(select(Subscriber.email).order_by(Subscriber.id)).scalars().all()
        assert remaining == ["bob@example.org", "carl@example.org"]
        assert db.session.get(Subscriber, bob).status is SubscriberStatus.CONFIRMED
    assert count(app, ConsentEvent) == 3 and count(app, Delivery) == 1
    assert visitor.client.get(stale_link).status_code in (404, 410)
    assert runner.invoke(args=["verify-evidence"]).exit_code == 0


def test_the_period_counts_from_the_latest_request(app, runner, visitor, outbox, clock):
    visitor.sign_up("ann@example.org")
    clock.advance(days=10)
    visitor.sign_up("ann@example.org")  # asked again: a fresh confirmation link
    drain(app)
    clock.advance(days=5)  # 15 days after the first request, 5 after the latest
    assert "deleted 0 never-confirmed sign-ups" in purge(runner)
    response = visitor.confirm(confirm_link(outbox[-1]))
    assert response.status_code == 200
    with app.app_context():
        assert subscribers.find_by_email("ann@example.org").status is SubscriberStatus.CONFIRMED


def test_purging_a_sign_up_does_not_reset_the_confirmation_mail_cap(config, app, runner, clock):
    app.config["UNCONFIRMED_RETENTION_DAYS"] = 0.01  # a quarter of an hour
    visitor = Visitor(app.test_client())
    visitor.sign_up("ann@example.org")
    visitor.sign_up("ann@example.org")
    clock.advance(hours=1)
    assert "deleted 1 never-confirmed sign-ups (2 consent events, 2 mails)" in purge(runner)
    visitor.sign_up("ann@example.org")  # a third within 24 hours: still capped
    assert count(app, Subscriber) == 0 and count(app, DoiSend) == 2
    clock.advance(hours=23, minutes=1)
    assert "deleted 2 expired mail-cap records" in purge(runner)
    visitor.sign_up("ann@example.org")
    assert count(app, Subscriber) == 1 and count(app, Delivery) == 1 and count(app, DoiSend) == 1


def test_withdrawn_consents_evidence_is_erased_after_the_evidence_period(
    app, runner, visitor, outbox, clock, tmp_path
):
    ann = sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    bob = sign_up_and_confirm(app, visitor, outbox, "bob@example.org")
    clock.advance(days=30)
    with app.app_context():
        subscribers.withdraw(db.session.get(Subscriber, ann), "link")
        db.session.commit()

    clock.advance(days=app.config["EVIDENCE_RETENTION_DAYS"], minutes=-1)
    assert "erased 0 withdrawn subscribers" in purge(runner)
    clock.advance(minutes=2)
    output = purge(runner)
    assert "erased 1 withdrawn subscribers after the evidence period" in output and "@" not in output

    with app.app_context():
        erased = db.session.get(Subscriber, ann)
        assert erased.status is SubscriberStatus.ERASED and erased.email is None
        last = db.session.execute(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == ann).order_by(ConsentEvent.id.desc())
        ).scalars().first()
        assert (last.type, last.channel, last.at) == ("erased", "retention", clock.now())
        (entry,) = db.session.execute(select(Suppression)).scalars().all()
        assert entry.reason == "retention" and entry.address_hash == suppression.address_hash("ann@example.org")
        assert db.session.get(Subscriber, bob).status is SubscriberStatus.CONFIRMED
    assert "erased 0 withdrawn subscribers" in purge(runner)  # once only
    assert runner.invoke(args=["verify-evidence"]).exit_code == 0
    csv = tmp_path / "list.csv"
    csv.write_text("email,consented_at,confirmed_at,ip,source\nann@example.org,,,,\n", encoding="utf-8")
    assert "1 suppressed" in runner.invoke(args=["import-subscribers", str(csv)]).output


def test_the_worker_purges_once_per_day(app, visitor, clock, caplog):
    caplog.set_level(logging.INFO, logger="newsletter.retention")
    visitor.sign_up("ann@example.org")
    clock.advance(days=15)
    with app.app_context():
        assert scheduler.run_due_purge(clock.now()) is True
        assert db.session.execute(select(func.count()).select_from(Subscriber)).scalar_one() == 0
        visitor.sign_up("bob@example.org")
        assert scheduler.run_due_purge(clock.now()) is False  # another worker, the same day
        clock.advance(days=1)
        assert scheduler.run_due_purge(clock.now()) is True
        runs = db.session.execute(select(JobRun).order_by(JobRun.id)).scalars().all()
    assert [run.job_id for run in runs] == ["purge", "purge"]
    assert runs[1].due_at - runs[0].due_at == timedelta(days=1)
    assert runs[0].due_at.hour == 2 and runs[0].due_at.minute == 30  # 03:30 in Berlin (CET)
    assert "deleted 1 never-confirmed sign-ups" in runs[0].outcome
    assert all(run.finished_at is not None for run in runs)
    messages = [record.getMessage() for record in caplog.records if record.name == "newsletter.retention"]
    assert len(messages) == 2 and all("@" not in message for message in messages)


@pytest.mark.parametrize("status", ["confirmed", "suspended"])
def test_subscribed_addresses_are_never_purged(app, runner, visitor, outbox, clock, status):
    ann = sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    if status == "suspended":  # hard bounces: not a consent event
        with app.app_context():
            db.session.get(Subscriber, ann).status = SubscriberStatus.SUSPENDED
            db.session.commit()
    clock.advance(days=5000)
    purge(runner)
    with app.app_context():
        assert db.session.get(Subscriber, ann).email == "ann@example.org"
    assert subscriber_id(app, "ann@example.org") == ann

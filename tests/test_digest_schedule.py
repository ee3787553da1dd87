"""The digest on DIGEST_SCHEDULE: standard crontab in TIMEZONE, once per due time across
workers, and one catch-up digest after downtime, never a burst (SPEC §5).

Time is the injectable clock; nothing here sleeps or starts a scheduler thread.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from newsletter import clock as clocks
from newsletter import create_app, crontab, scheduler
from newsletter.extensions import db
from newsletter.models import Article, Delivery, DeliveryStatus, Digest, DigestTrigger, JobRun
from tests.support.factories import add_article, add_subscriber


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "zone", "now", "due"),
    [
        # 2026-03-02 is a Monday; Berlin is UTC+1 until 29 March, UTC+2 after.
        ("0 7 * * *", "Europe/Berlin", utc(2026, 3, 2, 8, 0), utc(2026, 3, 2, 6, 0)),
        ("0 7 * * *", "Europe/Berlin", utc(2026, 3, 2, 6, 0), utc(2026, 3, 2, 6, 0)),  # due now
        ("0 7 * * *", "Europe/Berlin", utc(2026, 3, 2, 5, 59), utc(2026, 3, 1, 6, 0)),
        (
            "0 7 * * *",
            "Europe/Berlin",
            utc(2026, 3, 30, 6, 0),
            utc(2026, 3, 30, 5, 0),
        ),  # summer time
        ("0 7 * * *", "America/New_York", utc(2026, 3, 2, 12, 30), utc(2026, 3, 2, 12, 0)),
        # Weekdays count from Sunday = 0 (and 7), as in cron, not from APScheduler's Monday = 0.
        ("0 7 * * 0", "Europe/Berlin", utc(2026, 3, 2, 8, 0), utc(2026, 3, 1, 6, 0)),
        ("0 7 * * 7", "Europe/Berlin", utc(2026, 3, 2, 8, 0), utc(2026, 3, 1, 6, 0)),
        ("0 7 * * 1", "Europe/Berlin", utc(2026, 3, 2, 8, 0), utc(2026, 3, 2, 6, 0)),
        ("30 6 * * 1-5", "Europe/Berlin", utc(2026, 3, 7, 10, 0), utc(2026, 3, 6, 5, 30)),
        ("0 7 * * sat", "Europe/Berlin", utc(2026, 3, 2, 8, 0), utc(2026, 2, 28, 6, 0)),
        # Short and long periods alike.
        ("*/15 * * * *", "Europe/Berlin", utc(2026, 3, 2, 8, 7), utc(2026, 3, 2, 8, 0)),
        ("0 7 1 * *", "Europe/Berlin", utc(2026, 3, 15, 0, 0), utc(2026, 3, 1, 6, 0)),
        ("0 7 29 2 *", "Europe/Berlin", utc(2026, 3, 2, 8, 0), utc(2024, 2, 29, 6, 0)),
    ],
)
def test_latest_due_time_follows_cron_in_the_configured_zone(line, zone, now, due):
    assert crontab.latest_due(crontab.cron_trigger(line, zone), now) == due


@pytest.fixture
def berlin_daily(config):
    config.update(DIGEST_SCHEDULE="0 7 * * *", TIMEZONE="Europe/Berlin")
    return config


@pytest.fixture
def readers(berlin_daily, app):
    with app.app_context():
        add_subscriber("ann@example.org")
        add_subscriber("bob@example.org")
        db.session.commit()


def add_news(app, title: str) -> None:
    with app.app_context():
        add_article(title)
        db.session.commit()


def runs(app) -> list[tuple[datetime, str | None]]:
    with app.app_context():
        return [
            (run.due_at, run.outcome)
            for run in db.session.execute(
                select(JobRun).where(JobRun.job_id == "digest").order_by(JobRun.id)
            ).scalars()
        ]


def digests(app) -> list[tuple[DigestTrigger, int, int]]:
    """(trigger, articles, recipients) of every digest, oldest first."""
    with app.app_context():
        return [
            (
                issue.trigger,
                db.session.execute(
                    select(func.count()).where(Article.digest_id == issue.id)
                ).scalar_one(),
                issue.recipient_count,
            )
            for issue in db.session.execute(select(Digest).order_by(Digest.id)).scalars()
        ]


def due_digest(app, clock) -> bool:
    with app.app_context():
        return scheduler.run_due_digest(clock.now())


def test_the_job_builds_and_queues_the_digest_once_per_due_time(readers, app, clock, outbox):
    add_news(app, "Montag")
    assert due_digest(app, clock) is True
    assert digests(app) == [(DigestTrigger.SCHEDULE, 1, 2)]
    assert runs(app) == [(utc(2026, 3, 2, 6, 0), "digest 1 queued for 2 subscribers")]
    with app.app_context():  # only queued: the send-mail job delivers
        statuses = db.session.execute(select(Delivery.status)).scalars().all()
    assert statuses == [DeliveryStatus.QUEUED] * 2 and outbox == []

    clock.advance(hours=1)
    add_news(app, "Montag, später")
    assert due_digest(app, clock) is False  # still the same due time: it waits for tomorrow
    assert len(digests(app)) == 1

    clock.set(utc(2026, 3, 3, 6, 0))  # Tuesday, 07:00 in Berlin
    assert due_digest(app, clock) is True
    assert digests(app)[1] == (DigestTrigger.SCHEDULE, 1, 2)


def test_a_due_time_without_news_is_claimed_and_sends_nothing(readers, app, clock):
    assert due_digest(app, clock) is True
    assert runs(app) == [(utc(2026, 3, 2, 6, 0), "nothing new")]
    assert digests(app) == []


def test_two_workers_run_each_due_time_once(readers, app, config, clock, tmp_path):
    add_news(app, "Für alle")
    other_worker = create_app(config, clock_=clock, instance_path=str(tmp_path / "second-worker"))
    try:
        assert due_digest(app, clock) is True
        assert due_digest(other_worker, clock) is False
    finally:
        with other_worker.app_context():
            db.session.remove()
            db.engine.dispose()
    assert digests(app) == [(DigestTrigger.SCHEDULE, 1, 2)]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Delivery)).scalar_one() == 2


def test_missed_runs_coalesce_into_one_catch_up_digest(readers, app, clock):
    add_news(app, "Montag")
    assert due_digest(app, clock) is True  # Monday's digest, then the worker goes down
    clock.advance(days=1)
    add_news(app, "Dienstag")
    clock.advance(days=1)
    add_news(app, "Mittwoch")
    clock.set(utc(2026, 3, 5, 10, 0))  # back on Thursday, after three missed due times

    assert due_digest(app, clock) is True  # the start-up catch-up
    assert due_digest(app, clock) is False  # a second start (or a second worker): nothing
    assert runs(app) == [
        (utc(2026, 3, 2, 6, 0), "digest 1 queued for 2 subscribers"),
        (utc(2026, 3, 5, 6, 0), "digest 2 queued for 2 subscribers"),
    ]
    assert digests(app) == [(DigestTrigger.SCHEDULE, 1, 2), (DigestTrigger.SCHEDULE, 2, 2)]


def test_the_worker_registers_the_digest_on_its_schedule_and_catches_up_at_start(
    readers, app, clock
):
    add_news(app, "Während der Pause")
    background = BackgroundScheduler(timezone="Europe/Berlin")
    scheduler.add_jobs(app, background)
    jobs = background.get_jobs()
    assert {job.id for job in jobs} >= {"send-mail", "digest", "purge"}
    for job in jobs:  # a late run is never repeated for each time it missed, nor run twice at once
        assert job.coalesce is True and job.max_instances == 1
    job = next(job for job in jobs if job.id == "digest")
    assert str(job.trigger.timezone) == "Europe/Berlin"
    assert (
        str(job.trigger.fields[4]) == "*" and str(job.trigger.fields[5]) == "7"
    )  # day_of_week, hour
    assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time is None
    # The first run is right away (wall clock): that run is the catch-up.
    assert job.next_run_time <= clocks.Clock().now()

    job.func()  # what the scheduler thread runs, in its own app context
    assert runs(app) == [(utc(2026, 3, 2, 6, 0), "digest 1 queued for 2 subscribers")]
    job.func()
    assert len(runs(app)) == 1


def test_sunday_in_the_schedule_means_sunday(berlin_daily, app, clock):
    trigger = crontab.cron_trigger("0 7 * * 0", "Europe/Berlin")
    # 2026-03-02 is a Monday; the next Sunday 07:00 in Berlin is 2026-03-08 06:00 UTC.
    fire = trigger.get_next_fire_time(None, datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    assert fire.weekday() == 6 and fire.hour == 7
    assert fire.astimezone(UTC) == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    # ... and the job run on Monday serves the Sunday before.
    app.config["DIGEST_SCHEDULE"] = "0 7 * * 0"
    with app.app_context():
        add_article("Wochenende")
        db.session.commit()
    assert due_digest(app, clock) is True
    ((due_at, _outcome),) = runs(app)
    assert due_at == utc(2026, 3, 1, 6, 0) and due_at.weekday() == 6

"""The worker: jobs registered from config, run once per due time, embedded or as a process."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from newsletter import create_app, crontab, scheduler
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, JobRun
from tests.support.clocks import start_at_the_wall_clock
from tests.support.processes import flask_process


def test_embedded_worker_starts_once_on_the_first_request_only(config, tmp_path, clock):
    config.update(TESTING=False, EMBEDDED_WORKER=True, SEND_INTERVAL_SECONDS=3600)
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "instance"))
    assert "embedded_scheduler" not in app.extensions  # CLI commands and the reloader's parent never start it
    with app.app_context():
        db.create_all()
    client = app.test_client()
    client.get("/privacy")
    started = app.extensions["embedded_scheduler"]
    client.get("/privacy")
    client.get("/")
    try:
        assert app.extensions["embedded_scheduler"] is started
        assert started.running
        # (get_jobs lists by next run time, which depends on when the test runs)
        assert sorted(job.id for job in started.get_jobs()) == [
            "digest", "poll-feeds", "poll-feeds-now", "purge", "send-mail", "send-webhooks"
        ]
        # Its jobs log under their names, and APScheduler's line per run stays out of the log.
        assert sorted(job.name for job in started.get_jobs()) == sorted(job.id for job in started.get_jobs())
        assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    finally:
        started.shutdown(wait=True)  # the digest's start-up catch-up may be running
        with app.app_context():
            db.engine.dispose()


def test_embedded_worker_is_off_outside_debug_by_default(config, tmp_path, clock):
    config.update(TESTING=False)
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "instance"))
    assert app.config["EMBEDDED_WORKER"] is False
    with app.app_context():
        db.create_all()
    app.test_client().get("/privacy")
    assert "embedded_scheduler" not in app.extensions
    with app.app_context():
        db.engine.dispose()


def test_run_once_claims_each_due_time_once(app):
    due = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    calls = []
    with app.app_context():
        assert scheduler.run_once("digest", due, lambda: calls.append(1) or "sent 3") is True
        assert scheduler.run_once("digest", due, lambda: calls.append(2)) is False
        assert scheduler.run_once("digest", due.replace(hour=7), lambda: calls.append(3)) is True
        runs = db.session.execute(select(JobRun).order_by(JobRun.id)).scalars().all()
    assert calls == [1, 3]
    assert [(run.job_id, run.outcome) for run in runs] == [("digest", "sent 3"), ("digest", "done")]
    assert all(run.finished_at is not None for run in runs)


@pytest.mark.parametrize(
    ("line", "expected_weekdays"),
    [
        ("0 7 * * 0", "sun"),
        ("0 7 * * 7", "sun"),
        ("0 7 * * 1-5", "mon,tue,wed,thu,fri"),
        ("0 7 * * 0,3", "sun,wed"),
        ("0 7 * * 5-7", "fri,sat,sun"),
        ("0 7 * * */2", "sun,tue,thu,sat"),
        ("0 7 * * mon-fri", "mon-fri"),
        ("0 7 * * *", "*"),
    ],
)
def test_crontab_weekdays_count_from_sunday(line, expected_weekdays):
    trigger = crontab.cron_trigger(line, "Europe/Berlin")
    assert str(trigger.fields[4]) == expected_weekdays


@pytest.mark.parametrize("line", ["0 7 * *", "0 7 * * 8", "0 7 * * 3-1"])
def test_bad_crontab_lines_are_refused(line):
    with pytest.raises(ValueError):
        crontab.cron_trigger(line, "Europe/Berlin")


def test_worker_process_sends_queued_mail_and_stops_cleanly_on_sigterm(smtp_config, app, visitor, smtp_server, clock):
    # The worker process runs on the wall clock; its start-up purge would delete a sign-up
    # dated at the frozen test time as long unconfirmed.
    start_at_the_wall_clock(clock)
    visitor.sign_up("ann@example.org")
    with flask_process(app, smtp_server.port, "worker") as worker:
        messages = smtp_server.wait_for(1)
        worker.terminate()
        output = worker.finish()
    assert len(messages) == 1, output
    assert worker.returncode == 0, output
    assert "Traceback" not in output
    with app.app_context():
        assert db.session.execute(select(Delivery.status)).scalar_one() is DeliveryStatus.SENT

"""The worker's jobs on APScheduler 3, in the ``worker`` command or embedded in the web process.

Jobs are thin wrappers: each opens its own app context (sessions are per context and per
thread) and calls one domain function. Jobs tied to a due time (the digest, the daily
purge) claim that time in the database first (:func:`run_once`), so several workers run each
due time once; APScheduler's job stores are per process and cannot provide that.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from . import address_requests, bounce_listener, bounce_reports, clock, digest, feeds, retention
from .crontab import cron_trigger, latest_due
from .delivery import sender
from .extensions import db
from .models import DigestTrigger, JobRun

logger = logging.getLogger(__name__)

def run_once(job_id: str, due_at: datetime, job: Callable[[], str | None]) -> bool:
    """Run ``job`` for ``due_at`` unless another worker already claimed that due time.

    Must be called inside an app context. Returns whether this process ran it.
    """
    run = JobRun(job_id=job_id, due_at=due_at, started_at=clock.now())
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        logger.info("job %s for %s already claimed by another worker", job_id, due_at)
        return False
    outcome = job()
    run.finished_at = clock.now()
    run.outcome = (outcome or "done")[:255]
    db.session.commit()
    return True


DIGEST_JOB = "digest"

def run_due_digest(now: datetime) -> bool:
    """Build the digest for the latest DIGEST_SCHEDULE time at or before ``now``, unless a
    worker already claimed that time; returns whether this call ran the build.

    The same call serves the schedule and the catch-up on worker start: due times missed
    while no worker ran coalesce into the latest one, so downtime ends in one digest, never
    a burst. Must be called inside an app context.
    """
    config = current_app.config
    due_at = latest_due(cron_trigger(config["DIGEST_SCHEDULE"], config["TIMEZONE"]), now)
    if due_at is None:
        return False
    return run_once(DIGEST_JOB, due_at, _build_scheduled_digest)


def _build_scheduled_digest() -> str:
    issue = digest.build_digest(DigestTrigger.SCHEDULE)
    if issue is None:
        return "nothing new"
    return f"digest {issue.id} queued for {issue.recipient_count} subscribers"


def scheduled_digest() -> None:
    """The digest job: only builds and queues; the send-mail job delivers."""
    run_due_digest(clock.now())


PURGE_JOB = "purge"
#: When the daily retention purge runs, in TIMEZONE: a quiet hour, away from the digest.
PURGE_SCHEDULE = "30 3 * * *"


def run_due_purge(now: datetime) -> bool:
    """Apply the retention rules for the latest PURGE_SCHEDULE time at or before ``now``,
    unless a worker already claimed that day's run; returns whether this call ran it.

    Must be called inside an app context.
    """
    due_at = latest_due(cron_trigger(PURGE_SCHEDULE, current_app.config["TIMEZONE"]), now)
    if due_at is None:
        return False
    return run_once(PURGE_JOB, due_at, lambda: str(retention.purge()))


def scheduled_purge() -> None:
    """The daily purge job; on worker start it catches up a day missed during downtime."""
    run_due_purge(clock.now())


def _in_context(app: Flask, function: Callable[[], object]) -> Callable[[], None]:
    def job() -> None:
        with app.app_context():
            try:
                function()
            except Exception:
                db.session.rollback()
                logger.exception("job %s failed", getattr(function, "__name__", function))

    return job


def send_mail() -> None:
    """Carry out what visitors asked for (sign-ups, preferences links: their mails are queued
    then), and send every mail that is due."""
    address_requests.carry_out()
    sender.drain()


def poll_feeds() -> None:
    """Poll every FEED_URLS entry, each in its own transaction: one broken feed stops nothing.

    Feeds need no :func:`run_once` claim: polling a feed twice imports nothing twice.
    """
    for url in current_app.config["FEED_URLS"]:
        try:
            feeds.poll(url)
            db.session.commit()
        except Exception:
            db.session.rollback()
            logger.exception("polling feed %r failed", url)
            _record_poll_crash(url)


def _record_poll_crash(url: str) -> None:
    try:
        feeds.record_failure(url, "internal error while importing (see the worker log)")
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("could not record the failure of feed %r", url)


def add_jobs(app: Flask, scheduler: BaseScheduler) -> None:
    """Register every job the worker runs, from the app's configuration."""
    common = {"coalesce": True, "max_instances": 1, "replace_existing": True}
    scheduler.add_job(
        _in_context(app, send_mail),
        "interval",
        seconds=app.config["SEND_INTERVAL_SECONDS"],
        id="send-mail",
        **common,
    )
    scheduler.add_job(
        _in_context(app, scheduled_digest),
        cron_trigger(app.config["DIGEST_SCHEDULE"], app.config["TIMEZONE"]),
        id=DIGEST_JOB,
        # Run once right at start as well: the catch-up of a due time missed during downtime.
        # APScheduler keeps wall-clock time, hence the real clock here.
        next_run_time=clock.Clock().now(),
        # Never skip a late run: the job itself works out which due time it serves.
        misfire_grace_time=None,
        **common,
    )
    scheduler.add_job(
        _in_context(app, scheduled_purge),
        cron_trigger(PURGE_SCHEDULE, app.config["TIMEZONE"]),
        id=PURGE_JOB,
        next_run_time=clock.Clock().now(),  # catch up a day missed during downtime
        misfire_grace_time=None,
        **common,
    )
    if app.config["BOUNCE_SMTP_LISTEN"]:
        scheduler.add_job(
            _in_context(app, bounce_reports.process_waiting),
            "interval",
            seconds=app.config["SEND_INTERVAL_SECONDS"],
            id="process-bounces",
            **common,
        )
    if app.config["FEED_URLS"]:
        scheduler.add_job(
            _in_context(app, poll_feeds),
            "interval",
            minutes=app.config["FEED_POLL_MINUTES"],
            id="poll-feeds",
            **common,
        )


def run_worker(app: Flask) -> None:
    """Run the jobs in the foreground until SIGTERM or SIGINT; mails in flight finish first."""
    scheduler = BlockingScheduler(timezone=app.config["TIMEZONE"])
    add_jobs(app, scheduler)

    def stop(signum, _frame) -> None:
        sender.request_stop()
        # Said once the stop is requested: from here on the sender hands over no further mail.
        logger.info("signal %s: finishing the mails in flight, then stopping", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener = bounce_listener.start(app) if app.config["BOUNCE_SMTP_LISTEN"] else None
    try:
        scheduler.start()
    finally:
        if listener is not None:
            listener.stop()
    # start() returns at shutdown; the job threads still running end soon (the sender gives
    # its unsent batch back) and the interpreter waits for them before the process exits.


def init_app(app: Flask) -> None:
    """Start the jobs inside the web process on its first request, if EMBEDDED_WORKER is on.

    Starting on the first request rather than here keeps the jobs out of CLI commands and out
    of the reloader's watching parent process, which serves no requests.
    """
    if not app.config["EMBEDDED_WORKER"] or app.testing:
        return
    lock = threading.Lock()

    @app.before_request
    def _start_embedded_worker() -> None:
        if "embedded_scheduler" in app.extensions:
            return
        with lock:
            if "embedded_scheduler" not in app.extensions:
                scheduler = BackgroundScheduler(timezone=app.config["TIMEZONE"], daemon=True)
                add_jobs(app, scheduler)
                scheduler.start()
                app.extensions["embedded_scheduler"] = scheduler
                logger.info("embedded worker started")

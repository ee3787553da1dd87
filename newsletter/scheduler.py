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

from . import address_requests, bounce_listener, bounce_reports, clock, digest, feed_sources, feeds, retention
from .crontab import cron_trigger, latest_due
from .delivery import sender
from .extensions import db
from .models import DigestTrigger, JobRun
from .webhooks import sending

logger = logging.getLogger(__name__)

def run_once(job_id: str, due_at: datetime, job: Callable[[], str | None]) -> bool:
    """Run ``job`` for ``due_at`` unless another worker already claimed that due time.

    Must be called inside an app context. Returns whether this process ran it.
    """
    return _claim_and_run(job_id, due_at, job) is not None


def _claim_and_run(job_id: str, due_at: datetime, job: Callable[[], str | None]) -> str | None:
    """What ``job`` did for ``due_at`` ("done" if it did not say); None when another worker
    had claimed that due time."""
    run = JobRun(job_id=job_id, due_at=due_at, started_at=clock.now())
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        logger.debug("job %s for %s already claimed by another worker", job_id, due_at)
        return None
    outcome = job()
    run.finished_at = clock.now()
    run.outcome = (outcome or "done")[:255]
    db.session.commit()
    return run.outcome


SEND_JOB = "send-mail"
FEEDS_JOB = "poll-feeds"
FEED_REQUESTS_JOB = "poll-feeds-now"
BOUNCES_JOB = "process-bounces"
WEBHOOKS_JOB = "send-webhooks"
DIGEST_JOB = "digest"

def run_due_digest(now: datetime) -> bool:
    """Build the digest for the latest DIGEST_SCHEDULE time at or before ``now``, unless a
    worker already claimed that time; returns whether this call ran the build.

    The same call serves the schedule and the catch-up on worker start: due times missed
    while no worker ran coalesce into the latest one, so downtime ends in one digest, never
    a burst. Must be called inside an app context.
    """
    return _due_digest(now) is not None


def _due_digest(now: datetime) -> str | None:
    config = current_app.config
    due_at = latest_due(cron_trigger(config["DIGEST_SCHEDULE"], config["TIMEZONE"]), now)
    if due_at is None:
        return None
    return _claim_and_run(DIGEST_JOB, due_at, _build_scheduled_digest)


def _build_scheduled_digest() -> str:
    issue = digest.build_digest(DigestTrigger.SCHEDULE)
    if issue is None:
        return "nothing new"
    return f"digest {issue.id} queued for {issue.recipient_count} subscribers"


def scheduled_digest() -> str | None:
    """The digest job: only builds and queues; the send-mail job delivers."""
    return _due_digest(clock.now())


PURGE_JOB = "purge"
#: When the daily retention purge runs, in TIMEZONE: a quiet hour, away from the digest.
PURGE_SCHEDULE = "30 3 * * *"


def run_due_purge(now: datetime) -> bool:
    """Apply the retention rules for the latest PURGE_SCHEDULE time at or before ``now``,
    unless a worker already claimed that day's run; returns whether this call ran it.

    Must be called inside an app context.
    """
    return _due_purge(now) is not None


def _due_purge(now: datetime) -> str | None:
    due_at = latest_due(cron_trigger(PURGE_SCHEDULE, current_app.config["TIMEZONE"]), now)
    if due_at is None:
        return None
    return _claim_and_run(PURGE_JOB, due_at, lambda: str(retention.purge()))


def scheduled_purge() -> str | None:
    """The daily purge job; on worker start it catches up a day missed during downtime."""
    return _due_purge(clock.now())


def _in_context(app: Flask, job_id: str, function: Callable[[], str | None]) -> Callable[[], None]:
    """``function`` as job ``job_id``: in an app context, one log line when it did something
    (what it returned), none when it had nothing to do, the traceback when it failed."""

    def job() -> None:
        with app.app_context():
            try:
                summary = function()
            except Exception:
                db.session.rollback()
                logger.exception("job %s failed", job_id)
                return
        if summary:
            logger.info("job %s: %s", job_id, summary)

    job.__name__ = job.__qualname__ = job_id
    return job


def send_mail() -> str | None:
    """Carry out what visitors asked for (sign-ups, preferences links: their mails are queued
    then), and send every mail that is due; says what it did, None when nothing."""
    requests = address_requests.carry_out()
    report = sender.drain()
    parts = [f"{requests} visitor requests carried out"] if requests else []
    parts += [f"{count} {name}" for name, count in _report_parts(report) if count]
    return ", ".join(parts) or None


def _report_parts(report) -> list[tuple[str, int]]:
    return [
        ("sent", report.sent), ("retrying", report.retrying), ("failed", report.failed),
        ("cancelled", report.cancelled), ("held", report.held),
    ]


def poll_feeds() -> str | None:
    """Poll every feed (FEED_URLS and the admin's), each in its own transaction: one broken
    feed stops nothing.

    Feeds need no :func:`run_once` claim: polling a feed twice imports nothing twice.
    """
    return _poll_each(feed_sources.polled_urls())


def poll_requested_feeds() -> str | None:
    """Poll the feeds an admin asked to poll now (``Feed.poll_requested_at``)."""
    return _poll_each(feed_sources.take_requests())


def _poll_each(urls: list[str]) -> str | None:
    # What finding the feeds wrote (taken requests) lands now; and feeds.poll needs the session
    # without a transaction, so no lock is held while a feed downloads.
    db.session.commit()
    results = []
    for url in urls:
        try:
            results.append(feeds.poll(url))
            db.session.commit()
        except Exception:
            db.session.rollback()
            logger.exception("polling feed %r failed", url)
            _record_poll_crash(url)
    if not results:
        return None
    new = sum(result.created for result in results)
    failed = sum(not result.ok for result in results)
    return f"{len(results)} feeds polled, {new} new articles, {failed} failed"


def _record_poll_crash(url: str) -> None:
    try:
        feeds.record_failure(url, "internal error while importing (see the worker log)")
        db.session.commit()
    except Exception:
        db.session.rollback()
        logger.exception("could not record the failure of feed %r", url)


def add_jobs(app: Flask, scheduler: BaseScheduler) -> None:
    """Register every job the worker runs, from the app's configuration."""

    def add(job_id: str, function: Callable[[], str | None], trigger, **options) -> None:
        scheduler.add_job(
            _in_context(app, job_id, function), trigger, id=job_id, name=job_id,
            coalesce=True, max_instances=1, replace_existing=True, **options,
        )

    every_round = {"trigger": "interval", "seconds": app.config["SEND_INTERVAL_SECONDS"]}
    add(SEND_JOB, send_mail, **every_round)
    add(WEBHOOKS_JOB, send_webhooks, **every_round)
    add(FEED_REQUESTS_JOB, poll_requested_feeds, **every_round)
    if app.config["BOUNCE_SMTP_LISTEN"]:
        add(BOUNCES_JOB, process_bounces, **every_round)
    # Always, even without FEED_URLS: feeds an admin adds are polled without a restart.
    add(FEEDS_JOB, poll_feeds, "interval", minutes=app.config["FEED_POLL_MINUTES"])
    add(
        DIGEST_JOB,
        scheduled_digest,
        cron_trigger(app.config["DIGEST_SCHEDULE"], app.config["TIMEZONE"]),
        # Run once right at start as well: the catch-up of a due time missed during downtime.
        # APScheduler keeps wall-clock time, hence the real clock here.
        next_run_time=clock.Clock().now(),
        # Never skip a late run: the job itself works out which due time it serves.
        misfire_grace_time=None,
    )
    add(
        PURGE_JOB,
        scheduled_purge,
        cron_trigger(PURGE_SCHEDULE, app.config["TIMEZONE"]),
        next_run_time=clock.Clock().now(),  # catch up a day missed during downtime
        misfire_grace_time=None,
    )


def send_webhooks() -> str | None:
    attempts = sending.deliver_due()
    return f"{attempts} webhook attempts" if attempts else None


def process_bounces() -> str | None:
    done = bounce_reports.process_waiting()
    return f"{done} bounce reports processed" if done else None


def quiet_apscheduler() -> None:
    """APScheduler's "Running job" / "executed successfully" lines, at every run of every job,
    only from WARNING up: the jobs say themselves when they did something."""
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


def run_worker(app: Flask) -> None:
    """Run the jobs in the foreground until SIGTERM or SIGINT; mails in flight finish first."""
    quiet_apscheduler()
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
                quiet_apscheduler()
                scheduler = BackgroundScheduler(timezone=app.config["TIMEZONE"], daemon=True)
                add_jobs(app, scheduler)
                scheduler.start()
                app.extensions["embedded_scheduler"] = scheduler
                logger.info("embedded worker started")

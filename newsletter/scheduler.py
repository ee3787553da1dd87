"""The worker's jobs on APScheduler 3, in the ``worker`` command or embedded in the web process.

Jobs are thin wrappers: each opens its own app context (sessions are per context and per
thread) and calls one domain function. Jobs tied to a due time (the digest) claim that time
in the database first (:func:`run_once`), so several workers run each due time once;
APScheduler's job stores are per process and cannot provide that.
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
from apscheduler.triggers.cron import CronTrigger
from flask import Flask
from sqlalchemy.exc import IntegrityError

from . import clock, outbox
from .extensions import db
from .models import JobRun

logger = logging.getLogger(__name__)

_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(line: str, timezone: str) -> CronTrigger:
    """A trigger for a standard five-field crontab line.

    APScheduler 3 counts numeric weekdays from Monday = 0; cron from Sunday = 0 (and 7).
    Numbers in the weekday field are turned into names, which both read the same way.
    """
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has five fields, got {line!r}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month,
        day_of_week=_translate_weekdays(weekday), timezone=timezone,
    )


def _translate_weekdays(field: str) -> str:
    """Cron weekday field (numbers 0–7, Sunday = 0 and 7) to APScheduler's, as day names.

    Numeric parts and steps over ``*`` are expanded into names; named parts pass through.
    """
    if field in ("*", "?"):
        return "*"
    names: list[str] = []
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if span == "*":
            first, last = 0, 6
        elif span.isdigit():
            first = int(span)
            last = 6 if step_text else first
        elif "-" in span and all(end.isdigit() for end in span.split("-", 1)):
            first, last = (int(end) for end in span.split("-", 1))
        else:
            names.append(part)
            continue
        if not 0 <= first <= last <= 7 or step < 1:
            raise ValueError(f"weekday field {field!r} is out of range 0-7")
        names.extend(_CRON_WEEKDAYS[number] for number in range(first, last + 1, step))
    return ",".join(dict.fromkeys(names))


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


def _in_context(app: Flask, function: Callable[[], object]) -> Callable[[], None]:
    def job() -> None:
        with app.app_context():
            try:
                function()
            except Exception:
                db.session.rollback()
                logger.exception("job %s failed", getattr(function, "__name__", function))

    return job


def add_jobs(app: Flask, scheduler: BaseScheduler) -> None:
    """Register every job the worker runs, from the app's configuration."""
    common = {"coalesce": True, "max_instances": 1, "replace_existing": True}
    scheduler.add_job(
        _in_context(app, outbox.drain),
        "interval",
        seconds=app.config["SEND_INTERVAL_SECONDS"],
        id="send-mail",
        **common,
    )


def run_worker(app: Flask) -> None:
    """Run the jobs in the foreground until SIGTERM or SIGINT; mails in flight finish first."""
    scheduler = BlockingScheduler(timezone=app.config["TIMEZONE"])
    add_jobs(app, scheduler)

    def stop(signum, _frame) -> None:
        logger.info("signal %s: finishing the jobs in flight, then stopping", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()


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

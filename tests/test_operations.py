"""What operators watch (SPEC §11): /healthz, /metrics, the worker's log, ``flask --help``."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from newsletter import create_app, scheduler
from newsletter.extensions import db
from tests.support.flows import drain, queue_digest
from tests.support.smtp import free_port

TOKEN = "s3cret-scrape-token"
ROOT = Path(__file__).resolve().parent.parent


def figures(client) -> dict[str, float]:
    """Every sample of /metrics by name and labels, e.g. ``newsletter_bounces_total{kind=hard}``."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def test_healthz_answers_200_with_the_age_of_the_oldest_due_mail(app, client, clock):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "oldest_due_mail_age_seconds": 0, "queued_mails": 0}
    queue_digest(app, readers=2)
    clock.advance(seconds=90)
    body = client.get("/healthz").json
    assert body["oldest_due_mail_age_seconds"] == 90
    assert body["queued_mails"] == 2
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_and_metrics_are_503_when_the_database_refuses_connections(config, clock, tmp_path, caplog):
    # A PostgreSQL server that is gone: nothing listens on the port, the connection is refused.
    config.update(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone")
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "instance"))
    with caplog.at_level(logging.WARNING):
        response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "health check: the database does not answer (OperationalError)" in caplog.text
    app.config["METRICS_TOKEN"] = TOKEN  # /metrics, asked then, says so too (no 500)
    metrics = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 503
    assert metrics.json == {"error": "the database does not answer"}
    with app.app_context():
        db.engine.dispose()


def test_healthz_is_503_when_the_sqlite_file_is_no_database(config, clock, tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database, whatever its name says" * 100)
    config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{broken}")
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "instance"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
    with app.app_context():
        db.engine.dispose()


def test_metrics_is_404_without_a_token_configured(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", f"bearer {TOKEN[:-1]}"],
)
def test_metrics_is_401_without_the_right_token(config, app, client, authorization):
    app.config["METRICS_TOKEN"] = TOKEN
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "newsletter_" not in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_counters_move_after_a_digest(smtp_app, smtp_server, clock):
    smtp_app.config["METRICS_TOKEN"] = TOKEN
    client = smtp_app.test_client()
    before = figures(client)
    assert before["newsletter_mails_sent_total"] == 0
    assert before["newsletter_mails_failed_total"] == 0
    assert before["newsletter_bounces_total{kind=hard}"] == 0
    assert before["newsletter_mails_queued"] == 0

    readers = queue_digest(smtp_app, readers=3)
    smtp_server.handler.rcpt_replies[readers[0]] = "550 5.1.1 no such user"
    clock.advance(seconds=30)
    waiting = figures(client)
    assert waiting["newsletter_mails_queued"] == 3
    assert waiting["newsletter_oldest_due_mail_age_seconds"] == 30

    drain(smtp_app)
    after = figures(client)
    assert after["newsletter_mails_sent_total"] == 2
    assert after["newsletter_mails_failed_total"] == 1
    assert after["newsletter_bounces_total{kind=hard}"] == 1
    assert after["newsletter_bounces_total{kind=complaint}"] == 0
    assert after["newsletter_mails_queued"] == 0
    assert after["newsletter_oldest_due_mail_age_seconds"] == 0


def test_metrics_take_two_queries_whatever_the_number_of_mails(app, client):
    app.config["METRICS_TOKEN"] = TOKEN
    queue_digest(app, readers=25)
    statements = []

    def note(_connection, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        figures(client)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, selects


# --- the worker's log ---------------------------------------------------------------------


def jobs(app) -> dict:
    background = BackgroundScheduler()
    scheduler.add_jobs(app, background)
    return {job.id: job for job in background.get_jobs()}


def test_worker_jobs_are_named_and_log_one_line_when_they_did_something(app, caplog):
    registered = jobs(app)
    for job in registered.values():
        assert job.name == job.id  # APScheduler's own lines name the job, not a closure
        assert "<locals>" not in job.func.__qualname__
    idle = [registered[name] for name in ("send-mail", "poll-feeds-now", "poll-feeds")]
    with caplog.at_level(logging.DEBUG, logger="newsletter"):
        for job in idle:
            job.func()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []  # quiet when idle

    queue_digest(app, readers=2)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="newsletter"):
        registered["send-mail"].func()
    lines = [r.getMessage() for r in caplog.records if r.name == "newsletter.scheduler"]
    assert lines == ["job send-mail: 2 sent"]


def test_apschedulers_per_run_lines_are_left_out(app):
    executor_log = logging.getLogger("apscheduler.executors.default")
    executor_log.setLevel(logging.NOTSET)
    try:
        scheduler.quiet_apscheduler()
        # "Running job …" and "Job … executed successfully" are INFO lines of this logger.
        assert not executor_log.isEnabledFor(logging.INFO)
        assert executor_log.isEnabledFor(logging.WARNING)  # a missed or failed run still shows
    finally:
        executor_log.setLevel(logging.NOTSET)


# --- flask --help -------------------------------------------------------------------------


def test_flask_help_describes_the_service(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NEWSLETTER_INSTANCE_PATH": str(tmp_path),
        "NEWSLETTER_SECRET_KEY": "a-long-random-value-for-the-help-test-only",
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "newsletter service" in result.stdout.lower()
    assert "send-digest" in result.stdout and "worker" in result.stdout

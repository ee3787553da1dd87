"""Fixtures: a fresh app and schema per test, a frozen clock, real SMTP, helpers.

The database is SQLite in a temporary file unless NEWSLETTER_TEST_DATABASE_URI names another
(``.ci/run`` runs the whole suite again against PostgreSQL that way).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from newsletter import create_app
from newsletter.clock import FrozenClock
from newsletter.extensions import db, limiter
from tests.support import services
from tests.support.smtp import SMTPServer

pytest_plugins = ["tests.support.browser_fixtures"]

#: A Monday morning in Berlin; tests move the clock from here.
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TEST_DATABASE_URI = os.environ.get("NEWSLETTER_TEST_DATABASE_URI")
_schema_ready: set[str] = set()


def pytest_report_header(config) -> str:
    return f"database: {TEST_DATABASE_URI or 'SQLite (temporary file per test)'}"


def pytest_terminal_summary(terminalreporter) -> None:
    if services.MISSING:
        line = "!" * 78
        terminalreporter.write_line(line, yellow=True, bold=True)
        terminalreporter.write_line(
            "SKIPPED because not available here: " + ", ".join(services.MISSING), yellow=True, bold=True
        )
        terminalreporter.write_line("(under CI=true these tests fail instead)", yellow=True)
        terminalreporter.write_line(line, yellow=True, bold=True)


def reset_database(uri: str) -> None:
    """A fresh, empty schema for each test; on a server database, create once, then truncate."""
    if uri.startswith("sqlite"):
        db.create_all()
        return
    if uri not in _schema_ready:
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
        _schema_ready.add(uri)
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def database_uri(tmp_path) -> str:
    if TEST_DATABASE_URI:
        services.require(services.reachable(TEST_DATABASE_URI), "the database in NEWSLETTER_TEST_DATABASE_URI")
        return TEST_DATABASE_URI
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def config(tmp_path, database_uri) -> dict:
    """Settings for the test app; tests may change them before using ``app``."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        # in-process tests never fork the test run; tests/test_sending.py runs send-digest with helpers
        "SEND_PROCESSES": 1,
        "MAIL_BACKEND": "memory",
        "MAIL_DEFAULT_SENDER": "Beispiel Verlag <news@example.org>",
        "SITE_NAME": "Beispiel Verlag",
        "BASE_URL": "https://news.example.org",
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": True,
    }


@pytest.fixture
def app(config, clock, tmp_path):
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "instance"))
    with app.app_context():
        reset_database(config["SQLALCHEMY_DATABASE_URI"])
    if config["RATELIMIT_ENABLED"]:
        limiter.reset()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def outbox(app):
    """Messages handed to the in-memory transport."""
    return app.extensions["mail_memory_outbox"]


@pytest.fixture
def smtp_server():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_config(config, smtp_server) -> dict:
    """Settings that send through the loopback SMTP server; use instead of ``config``."""
    config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, MAIL_TIMEOUT=5)
    return config


_FIELD = re.compile(r'name="(?P<name>[^"]+)"[^>]*?value="(?P<value>[^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (CSRF token, consent version), as a browser would send them."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag:
            match = _FIELD.search(tag)
            if match:
                fields[match["name"]] = match["value"]
    return fields


class Visitor:
    """Drives the public pages through the test client the way a browser would."""

    def __init__(self, client, language: str = "de") -> None:
        self.client = client
        self.headers = {"Accept-Language": language, "User-Agent": "Mozilla/5.0 (pytest)"}

    def sign_up(self, email: str, **extra):
        page = self.client.get("/subscribe", headers=self.headers)
        data = {**hidden_fields(page.get_data(as_text=True)), "email": email, "website": "", **extra}
        return self.client.post("/subscribe", data=data, headers=self.headers)

    def confirm(self, url_or_token: str):
        path = "/confirm/" + url_or_token.rsplit("/confirm/", 1)[-1]
        page = self.client.get(path, headers=self.headers)
        fields = hidden_fields(page.get_data(as_text=True))
        if "csrf_token" not in fields:  # an error page, or nothing left to confirm
            return page
        return self.client.post(path, data=fields, headers=self.headers)


@pytest.fixture
def visitor(client) -> Visitor:
    return Visitor(client)


def confirm_link(message) -> str:
    """The /confirm/ link of a DOI mail."""
    body = message.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/confirm/\S+", body).group(0)


@pytest.fixture
def admin_client(app, client):
    """The ``client``, signed in to the admin area as ``tests.support.admin.ADMIN_EMAIL``."""
    from tests.support.admin import create_admin, sign_in

    create_admin(app)
    response = sign_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client

"""Fixtures and hooks only: a fresh app and schema per test, a frozen clock, real SMTP
(tests/support/smtp_fixtures.py), real Chromium (tests/support/browser_fixtures.py).

Helpers live in tests/support/ and are imported from there, never from here.
"""

from __future__ import annotations

import pytest

from newsletter import create_app
from newsletter.clock import FrozenClock
from newsletter.extensions import db, limiter
from tests.support import services
from tests.support.admin import create_admin, sign_in
from tests.support.clocks import START
from tests.support.database import TEST_DATABASE_URI, reset_database
from tests.support.httpserver import HTTPServer
from tests.support.visitor import Visitor

pytest_plugins = ["tests.support.browser_fixtures", "tests.support.smtp_fixtures"]


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
        # feeds in tests come from http_server on loopback; tests of the refusal turn this off
        "FEED_ALLOW_PRIVATE_NETWORKS": True,
        # webhook receivers in tests are http_server on loopback too
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True,
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
def visitor(client) -> Visitor:
    return Visitor(client)


@pytest.fixture
def admin_client(app, client):
    """The ``client``, signed in to the admin area as ``tests.support.admin.ADMIN_EMAIL``."""
    create_admin(app)
    response = sign_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def http_server() -> HTTPServer:
    """A web server on loopback that serves what a test gives it (feeds, pages)."""
    server = HTTPServer()
    server.start()
    yield server
    server.stop()

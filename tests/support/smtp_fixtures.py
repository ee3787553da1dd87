"""Fixtures for mail over real SMTP (registered in conftest): a relay on loopback and an app
that sends through it."""

from __future__ import annotations

import pytest

from tests.support.smtp import SMTPServer


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


@pytest.fixture
def smtp_app(smtp_config, app):
    """The ``app``, sending through ``smtp_server``."""
    return app

"""The SMTP transport's encryption and login settings, end to end against a real TLS relay on loopback.

MAIL_USE_TLS (STARTTLS on the plain port), MAIL_USE_SSL (SMTPS, TLS from the first byte) and
MAIL_USERNAME / MAIL_PASSWORD (AUTH, offered by the relay only inside TLS). The relay's
certificate comes from a CA made for the test (trustme); the client trusts it through
SSL_CERT_FILE, which ``ssl.create_default_context()`` reads each time a connection opens.
A relay the client cannot verify, or whose login fails, is a relay that cannot be used now:
its mail waits in the queue, is not counted as an attempt, and bounces nobody.
"""

from __future__ import annotations

import ssl
from datetime import timedelta

import pytest
import trustme
from sqlalchemy import select

from newsletter import subscribers
from newsletter.delivery import outcomes
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, SubscriberStatus
from tests.support.flows import drain
from tests.support.smtp import SMTPServer

USER, PASSWORD = "newsletter", "correct horse battery staple"



@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The CA the client is told to trust (see ``trusted``)."""
    return trustme.CA()


@pytest.fixture(scope="module")
def unknown_ca() -> trustme.CA:
    """A CA nobody told the client about."""
    return trustme.CA()


def server_context(ca: trustme.CA, *identities: str) -> ssl.SSLContext:
    """A relay's TLS context with a certificate from ``ca`` for ``identities``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*identities).configure_cert(context)
    return context


def trust(ca: trustme.CA, tmp_path, monkeypatch) -> None:
    """Make ``ca`` the only CA the client trusts from now on."""
    path = tmp_path / f"ca-{id(ca)}.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def trusted(ca, tmp_path, monkeypatch) -> None:
    trust(ca, tmp_path, monkeypatch)


@pytest.fixture
def relays():
    """Starts SMTPServer(**options) on loopback; stops them all after the test."""
    started: list[SMTPServer] = []

    def start(**options) -> SMTPServer:
        server = SMTPServer(**options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


#: How each kind of TLS is asked of the relay and configured in the app.
MODES = {
    "starttls": ("starttls", {"MAIL_USE_TLS": True}),
    "smtps": ("implicit_tls", {"MAIL_USE_SSL": True}),
}


def tls_relay(relays, mode: str, context: ssl.SSLContext, **options) -> tuple[SMTPServer, dict]:
    """A relay speaking ``mode`` with ``context``, and the app settings that use it."""
    option, settings = MODES[mode]
    return relays(**{option: context}, **options), settings


def use_relay(app, server: SMTPServer, **settings) -> None:
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_TIMEOUT=5, **settings)


def delivery(app) -> Delivery:
    with app.app_context():
        row = db.session.execute(select(Delivery)).scalar_one()
        db.session.expunge_all()
        return row


def assert_waits_for_a_retry(app, clock, report: outcomes.SendReport, reply_contains: str) -> None:
    """The relay could not be used: the mail is neither sent nor failed, no attempt counted, due in a minute."""
    assert (report.sent, report.failed, report.retrying) == (0, 0, 1)
    row = delivery(app)
    assert (row.status, row.attempts) == (DeliveryStatus.RETRYING, 0)
    assert reply_contains in row.last_reply, row.last_reply
    assert row.next_attempt_at == clock.now() + timedelta(seconds=outcomes.BACKOFF_SECONDS[0])
    assert drain(app).attempted == 0  # not due before then


@pytest.mark.parametrize("mode", MODES)
def test_the_session_is_encrypted_before_any_mail_goes(app, visitor, relays, ca, trusted, mode):
    """STARTTLS on the plain port, or SMTPS: TLS from the first byte (that relay has no STARTTLS)."""
    server, settings = tls_relay(relays, mode, server_context(ca, "localhost", "127.0.0.1"))
    use_relay(app, server, **settings)
    visitor.sign_up("ann@example.org")
    assert drain(app).sent == 1
    (message,) = server.messages
    assert message["To"] == "ann@example.org"
    # the STARTTLS relay refuses MAIL FROM before STARTTLS; both saw this message inside TLS
    assert server.handler.tls_versions[0] in {"TLSv1.2", "TLSv1.3"}
    assert server.handler.authenticated_as == [None]
    assert delivery(app).status is DeliveryStatus.SENT


def test_a_relay_without_starttls_gets_no_mail_in_plain_text(app, visitor, relays, clock):
    server = relays()  # a plain relay that never offers STARTTLS
    use_relay(app, server, MAIL_USE_TLS=True)
    visitor.sign_up("ann@example.org")
    report = drain(app)
    assert server.messages == []
    assert_waits_for_a_retry(app, clock, report, "STARTTLS")


@pytest.mark.parametrize("mode", MODES)
def test_the_client_logs_in_inside_tls_before_sending(app, visitor, relays, ca, trusted, mode):
    context = server_context(ca, "localhost", "127.0.0.1")
    server, settings = tls_relay(relays, mode, context, logins={USER: PASSWORD})
    use_relay(app, server, MAIL_USERNAME=USER, MAIL_PASSWORD=PASSWORD, **settings)
    visitor.sign_up("ann@example.org")
    assert drain(app).sent == 1
    assert [str(m["To"]) for m in server.messages] == ["ann@example.org"]
    # the relay offers AUTH only inside TLS and refuses MAIL FROM without a login
    assert server.handler.auth_attempts == [(USER, True)]
    assert server.handler.authenticated_as == [USER]
    assert server.handler.tls_versions[0] in {"TLSv1.2", "TLSv1.3"}


def test_a_refused_login_keeps_the_mail_waiting_and_bounces_nobody(app, visitor, relays, ca, trusted, clock):
    server, settings = tls_relay(relays, "starttls", server_context(ca, "127.0.0.1"), logins={USER: PASSWORD})
    use_relay(app, server, MAIL_USERNAME=USER, MAIL_PASSWORD="wrong", **settings)
    visitor.sign_up("ann@example.org")
    report = drain(app)
    assert server.messages == []
    assert server.handler.auth_attempts and set(server.handler.auth_attempts) == {(USER, False)}
    assert_waits_for_a_retry(app, clock, report, "535")  # a 5xx reply, but to our login, not to Ann
    with app.app_context():
        ann = subscribers.find_by_email("ann@example.org")
        assert (ann.status, ann.bounce_count) == (SubscriberStatus.PENDING, 0)
        db.session.commit()
    app.config["MAIL_PASSWORD"] = PASSWORD  # the operator fixes the setting
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    assert drain(app).sent == 1
    assert server.handler.authenticated_as == [USER]
    assert delivery(app).attempts == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_from_an_unknown_ca_gets_no_mail(
    app, visitor, relays, unknown_ca, trusted, clock, mode, tmp_path, monkeypatch
):
    server, settings = tls_relay(relays, mode, server_context(unknown_ca, "localhost", "127.0.0.1"))
    use_relay(app, server, **settings)
    visitor.sign_up("ann@example.org")
    report = drain(app)
    assert server.messages == []
    assert_waits_for_a_retry(app, clock, report, "CERTIFICATE_VERIFY_FAILED")
    trust(unknown_ca, tmp_path, monkeypatch)  # the operator installs the relay's CA
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    assert drain(app).sent == 1
    assert [str(m["To"]) for m in server.messages] == ["ann@example.org"]


@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_for_another_host_name_gets_no_mail(app, visitor, relays, ca, trusted, clock, mode):
    # signed by the trusted CA, but for "localhost" only, while MAIL_SERVER says 127.0.0.1
    server, settings = tls_relay(relays, mode, server_context(ca, "localhost"))
    use_relay(app, server, **settings)
    visitor.sign_up("ann@example.org")
    report = drain(app)
    assert server.messages == []
    assert_waits_for_a_retry(app, clock, report, "CERTIFICATE_VERIFY_FAILED")
    app.config["MAIL_SERVER"] = "localhost"  # the name the certificate was issued for
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    assert drain(app).sent == 1
    assert [str(m["To"]) for m in server.messages] == ["ann@example.org"]

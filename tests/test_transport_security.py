"""The SMTP transport's encryption and login settings, end to end against a real TLS relay on loopback.

MAIL_USE_TLS (STARTTLS on the plain port), MAIL_USE_SSL (SMTPS, TLS from the first byte) and
MAIL_USERNAME / MAIL_PASSWORD (AUTH, offered by the relay only inside TLS). The relay's
certificate comes from a CA made for the test (trustme); the client trusts it through
SSL_CERT_FILE, which ``ssl.create_default_context()`` reads each time a connection opens.
A relay the client cannot verify, or whose login fails, is a relay that cannot be used now:
its mail waits in the queue, is not counted as an attempt, and bounces nobody.

Neither a man in the middle nor a broken relay can make the client misread a reply (issue 13):
a scripted relay (tests/support/scripted_relay.py) injects plain text after its 220 to STARTTLS
and answers with a line too long, too many lines, or lines carrying different codes; each ends
the connection as a relay that cannot be used now. And whatever composed a message, its line ends go over the
wire as CRLF, so a lone "." behind a bare LF cannot end DATA early or smuggle in another message.
"""

from __future__ import annotations

import ssl
from datetime import timedelta

import pytest
import trustme
from sqlalchemy import select

from newsletter import subscribers
from newsletter.delivery import outcomes
from newsletter.delivery.compose import RawMail
from newsletter.delivery.transports.smtp import SMTPConnection
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, Subscriber, SubscriberStatus
from tests.support.flows import drain, queue_digest
from tests.support.loops import run_to_end
from tests.support.scripted_relay import ScriptedRelay
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
    """Starts SMTPServer(**options), or ``relay(**options)``, on loopback; stops them all
    after the test."""
    started: list = []

    def start(relay=SMTPServer, **options):
        server = relay(**options)
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


def test_plain_text_injected_after_the_220_to_starttls_ends_the_connection(app, relays, ca, trusted, clock):
    """Bytes behind the 220 came before TLS, so anybody on the path may have put them there;
    read as the first replies inside TLS they would shift every later reply by one (here: a
    550 to the RCPT, a hard bounce that suspends the reader at BOUNCE_LIMIT=1). As aiosmtplib
    and smtplib do, the client reads nothing of them: it ends the connection before TLS."""
    injected = b"250 relay.test\r\n250 2.1.0 ok\r\n550 5.1.1 INJECTED\r\n"
    relay = relays(ScriptedRelay, starttls=server_context(ca, "127.0.0.1"), after_starttls=injected)
    use_relay(app, relay, MAIL_USE_TLS=True)
    queue_digest(app, 1)
    report = drain(app)
    assert_waits_for_a_retry(app, clock, report, "STARTTLS")
    assert_nobody_bounced(app)
    (session,) = relay.wait_until_ended(1)
    assert (session.verbs, session.ended) == (["EHLO", "STARTTLS"], "dropped")


#: Replies that break the protocol: (the command the relay answers with it, the reply, what
#: the stored reply says about it).
BROKEN_REPLIES = {
    "a 70 KiB line": ("MAIL", b"250 " + b"x" * 70 * 1024 + b"\r\n", "longer than 8192 bytes"),
    "2,000 lines": ("MAIL", b"250-ok\r\n" * 2000 + b"250 ok\r\n", "more than 100 lines"),
    "250, then 550": ("RCPT", b"250-2.1.5 ok\r\n550 5.1.1 no such user\r\n", "different codes"),
    "550, then 250": ("RCPT", b"550-5.1.1 no such user\r\n250 2.1.5 ok\r\n", "different codes"),
}


@pytest.mark.parametrize("case", BROKEN_REPLIES)
def test_a_reply_that_breaks_the_protocol_ends_the_connection_and_the_run(app, relays, clock, case):
    """Read as the last line's code, a mixed reply is a bounce or an acceptance the relay never
    gave; an over-long line raised ValueError out of the client. Nothing behind such a reply can
    be trusted: the client drops the connection (no RSET, no QUIT) and the sender stops the run
    as for a relay that is down (relay_down): the mails wait out the pause, no attempt counted,
    nobody bounced, and nothing reconnects before then."""
    command, reply, cause = BROKEN_REPLIES[case]
    relay = relays(ScriptedRelay, replies={command: reply})
    use_relay(app, relay, MAIL_CONCURRENCY=1)
    queue_digest(app, 3)
    report = drain(app)
    assert (report.sent, report.failed, report.retrying) == (0, 0, 3)
    with app.app_context():
        rows = db.session.execute(select(Delivery.status, Delivery.attempts, Delivery.next_attempt_at)).all()
        replies = db.session.execute(select(Delivery.last_reply)).scalars().all()
        db.session.commit()
    due = clock.now() + timedelta(seconds=outcomes.BACKOFF_SECONDS[0])
    assert set(rows) == {(DeliveryStatus.RETRYING, 0, due)}
    assert sum(cause in text for text in replies) == 1, replies
    assert sum("stop" in text for text in replies) == 2, replies  # the run ended with the first
    assert_nobody_bounced(app)
    (session,) = relay.wait_until_ended(1)
    # MAIL, RCPT and DATA went pipelined; the relay waits in DATA when the client goes
    assert (session.verbs, session.ended, session.messages) == (["EHLO", "MAIL", "RCPT", "DATA"], "dropped", [])
    assert drain(app).attempted == 0
    assert len(relay.sessions) == 1


def assert_nobody_bounced(app) -> None:
    with app.app_context():
        readers = db.session.execute(select(Subscriber.status, Subscriber.bounce_count)).all()
        db.session.commit()
    assert set(readers) == {(SubscriberStatus.CONFIRMED, 0)}


def test_bare_line_ends_go_out_as_crlf_and_a_lone_dot_is_stuffed(app, relays):
    """Whatever composed the message, a bare LF or CR is a line end: sent as it was, "a\\n.\\nb"
    put a line "." on the wire, which a relay that takes a bare LF as a line end reads as the
    end of DATA (the rest is smuggled in as commands). aiosmtpd removes the stuffing dots, so
    the message arrives exactly as sent with its line ends made CRLF."""
    server = relays()
    use_relay(app, server)
    data = b"Subject: line ends\n\na\n.\nb\r.\rc\r\n.\r\n..\n.d\r\r\nend"
    mail = RawMail("news@example.org", "ann@example.org", "<line-ends@example.org>", data)

    async def send() -> None:
        connection = SMTPConnection(app.config)
        await connection.send(mail)
        await connection.close()

    run_to_end(send)
    assert server.handler.raw == [b"Subject: line ends\r\n\r\na\r\n.\r\nb\r\n.\r\nc\r\n.\r\n..\r\n.d\r\n\r\nend\r\n"]

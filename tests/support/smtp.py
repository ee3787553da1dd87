"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

Replies can be scripted per test: a refusal of the sender (MAIL FROM), a 451 or 550 for RCPT
or DATA, or the server stopped altogether to play a relay that is down. It offers PIPELINING
(RFC 2920) as real relays do, unless told not to.

It can also speak TLS and demand a login, as a submission relay does: ``starttls=`` (a server
SSLContext) offers STARTTLS on the plain port and refuses mail before it (RFC 3207);
``implicit_tls=`` speaks TLS from the first byte (SMTPS, RFC 8314); ``logins=`` (user ->
password) offers AUTH only inside TLS and refuses mail without a successful login. Each
accepted message records the TLS version and the login of the session that brought it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        #: The messages exactly as received (to check what header folding did on the wire).
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        #: The client (host, port) of every accepted message: one port per SMTP connection.
        self.peers: list[tuple[str, int]] = []
        #: address -> reply (e.g. "550 5.1.1 no such user") given at RCPT time
        self.rcpt_replies: dict[str, str] = {}
        #: reply given at DATA time to every message, e.g. "451 4.3.0 try later"
        self.data_reply: str | None = None
        #: reply to every MAIL FROM, e.g. "550 5.7.1 sender not allowed"
        self.mail_from_reply: str | None = None
        #: called with the number of messages received so far, before each one is acknowledged
        self.on_message: Callable[[int], None] | None = None
        #: whether EHLO offers PIPELINING
        self.pipelining = True
        #: how many SMTP sessions offered PIPELINING in their EHLO reply
        self.pipelined_sessions = 0
        #: the name each EHLO gave, with the client address it came from
        self.ehlo_names: list[tuple[str, str]] = []
        #: whether MAIL FROM needs a successful AUTH first (set by SMTPServer's ``logins``)
        self.require_login = False
        #: user -> password accepted by AUTH
        self.logins: dict[str, str] = {}
        #: every AUTH attempt as (user, whether it succeeded), in order
        self.auth_attempts: list[tuple[str, bool]] = []
        #: per accepted message: the TLS version of its session ("TLSv1.3"), or None in plain text
        self.tls_versions: list[str | None] = []
        #: per accepted message: the user its session logged in as, or None without AUTH
        self.authenticated_as: list[str | None] = []
        self._lock = threading.Lock()
        self.received = threading.Condition(self._lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.ehlo_names.append((hostname, session.peer[0]))
        if self.pipelining:
            self.pipelined_sessions += 1
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.require_login and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self.mail_from_reply:
            return self.mail_from_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.received:
            self.messages.append(message)
            self.raw.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.peers.append(session.peer)
            tls = server.transport.get_extra_info("ssl_object") if server.transport else None
            self.tls_versions.append(tls.version() if tls is not None else None)
            self.authenticated_as.append(session.auth_data.login.decode() if session.authenticated else None)
            self.received.notify_all()
            count = len(self.messages)
        if self.on_message is not None:
            self.on_message(count)  # before the reply: the client still waits for it
        return "250 2.0.0 accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        """aiosmtpd's ``authenticator``: the users and passwords in :attr:`logins`."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        success = self.logins.get(user) == password
        self.auth_attempts.append((user, success))
        # handled=False: aiosmtpd sends the reply itself (235, or 535 for a refused login)
        return AuthResult(success=success, handled=False, auth_data=auth_data if success else None)

    def recipient_counts(self) -> dict[str, int]:
        """How many messages each envelope recipient received."""
        counts: dict[str, int] = {}
        for _sender, recipients in self.envelopes:
            for recipient in recipients:
                counts[recipient] = counts.get(recipient, 0) + 1
        return counts

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] and address in str(m["To"])]


class SMTPServer:
    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        logins: dict[str, str] | None = None,
    ) -> None:
        """A plain relay by default; see the module's docstring for ``starttls``, ``implicit_tls``
        and ``logins``."""
        self.handler = RecordingHandler()
        self.port = free_port()
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self.handler.require_login = logins is not None
        self.handler.logins = dict(logins or {})
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> None:
        options: dict = {}
        if self._starttls is not None:
            options.update(tls_context=self._starttls, require_starttls=True)
        if self._implicit_tls is not None:
            options.update(ssl_context=self._implicit_tls)
        if self.handler.require_login:
            # AUTH only inside TLS; aiosmtpd counts only STARTTLS as such, while behind implicit TLS
            # every session is encrypted from the start. (MAIL without a login: see handle_MAIL.)
            options.update(authenticator=self.handler.authenticate, auth_require_tls=self._implicit_tls is None)
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until ``count`` messages arrived (for mail sent by another process)."""
        with self.handler.received:
            self.handler.received.wait_for(lambda: len(self.handler.messages) >= count, timeout)
        return self.handler.messages

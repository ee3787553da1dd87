"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

Replies can be scripted per test: a refusal of the sender (MAIL FROM), any reply to RCPT or
DATA (for every message, or per recipient; each one given is kept in ``refusals``), or the
server stopped altogether to play a relay that is down. It offers PIPELINING
(RFC 2920) as real relays do, unless told not to.

It can also speak TLS and demand a login, as a submission relay does: ``starttls=`` (a server
SSLContext) offers STARTTLS on the plain port and refuses mail before it (RFC 3207);
``implicit_tls=`` speaks TLS from the first byte (SMTPS, RFC 8314); ``logins=`` (user ->
password) offers AUTH only inside TLS and refuses mail without a successful login. Each
accepted message records the TLS version and the login of the session that brought it.

For tests with sender processes it plays a relay that answers slowly, under the test's
control: :meth:`SMTPServer.hold_replies` keeps every DATA reply back until
:meth:`SMTPServer.release_replies`, and the test waits for what the relay observes (messages
received, sessions opened and closed) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


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
        #: recipient -> reply given at DATA time to its message, e.g. "552 5.3.4 message too big"
        self.data_replies: dict[str, str] = {}
        #: every scripted refusal given at RCPT or DATA, as (recipient, reply), in order
        self.refusals: list[tuple[str, str]] = []
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
        #: SMTP sessions (one per client connection) that began, and those that ended since
        self.sessions_opened = 0
        self.sessions_closed = 0
        self._holding = False
        self._held: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

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
            self.refusals.append((address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            reply = self.data_reply or self.data_replies.get(recipient)
            if reply:
                self.refusals.append((recipient, reply))
                return reply
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
        await self._reply_allowed()
        return "250 2.0.0 accepted"

    def hold_replies(self) -> None:
        """Keep every DATA reply back from now on (any thread, ``on_message`` included)."""
        with self._lock:
            self._holding = True

    def release_replies(self) -> None:
        """Give the replies held back, and answer at once again."""
        with self._lock:
            self._holding = False
            held, self._held = self._held, []
        for loop, waiter in held:
            loop.call_soon_threadsafe(_resolve, waiter)

    async def _reply_allowed(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._holding:
                return
            waiter = loop.create_future()
            self._held.append((loop, waiter))
        await waiter

    def session_opened(self) -> None:
        with self.received:
            self.sessions_opened += 1
            self.received.notify_all()

    def session_closed(self) -> None:
        with self.received:
            self.sessions_closed += 1
            self.received.notify_all()

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


def _resolve(waiter: asyncio.Future) -> None:
    if not waiter.done():  # a session that ended meanwhile cancelled it
        waiter.set_result(None)


class _Session(SMTP):
    """aiosmtpd's SMTP session, telling the handler when the client connection begins and ends
    (a STARTTLS upgrade makes the connection anew on the same session: counted once)."""

    def connection_made(self, transport) -> None:
        new = self.transport is None
        super().connection_made(transport)
        if new:
            self.event_handler.session_opened()

    def connection_lost(self, error) -> None:
        super().connection_lost(error)
        self.event_handler.session_closed()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Session(self.handler, **self.SMTP_kwargs)


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
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self.handler.release_replies()
            self._controller.stop()
            self._controller = None

    def hold_replies(self) -> None:
        """From now on, answer no message until :meth:`release_replies` (see the module)."""
        self.handler.hold_replies()

    def release_replies(self) -> None:
        self.handler.release_replies()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        """Block until ``count`` messages arrived (for mail sent by another thread or process);
        the timeout only keeps a broken test from hanging."""
        self._wait_until(lambda: len(self.handler.messages) >= count, f"{count} messages", timeout)
        return self.handler.messages

    def wait_for_sessions(self, count: int, timeout: float = 60.0) -> None:
        """Block until ``count`` SMTP sessions have begun since the start."""
        self._wait_until(lambda: self.handler.sessions_opened >= count, f"{count} sessions", timeout)

    def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Block until every session that began has ended: once a client is gone (killed, say),
        nothing more of what it sent can still arrive."""
        handler = self.handler
        self._wait_until(lambda: handler.sessions_closed == handler.sessions_opened, "no open session", timeout)

    def _wait_until(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        with self.handler.received:
            reached = self.handler.received.wait_for(condition, timeout)
        assert reached, (
            f"the relay did not reach {what} within {timeout} s: {len(self.handler.messages)} messages, "
            f"{self.handler.sessions_opened} sessions opened, {self.handler.sessions_closed} closed"
        )

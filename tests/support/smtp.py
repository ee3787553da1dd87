"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

Replies can be scripted per test: a refusal of the sender (MAIL FROM), a 451 or 550 for RCPT
or DATA, or the server stopped altogether to play a relay that is down. It offers PIPELINING
(RFC 2920) as real relays do, unless told not to.
"""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


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
        #: whether EHLO offers PIPELINING
        self.pipelining = True
        #: how many SMTP sessions offered PIPELINING in their EHLO reply
        self.pipelined_sessions = 0
        self._lock = threading.Lock()
        self.received = threading.Condition(self._lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            self.pipelined_sessions += 1
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
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
            self.received.notify_all()
        return "250 2.0.0 accepted"

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
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
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

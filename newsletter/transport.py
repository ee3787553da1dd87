"""Where rendered mails go: an SMTP relay, the outbox folder, or memory (tests).

Every transport is opened as a context manager yielding a connection with ``send(raw_mail)``.
``send`` raises :class:`TemporaryFailure` (4xx replies, connection trouble: try again later)
or :class:`PermanentFailure` (5xx replies: do not try again).
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from flask import Flask

from .mail import RawMail


class DeliveryError(Exception):
    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply[:512]


class TemporaryFailure(DeliveryError):
    """Try again later: a 4xx reply or a connection that failed."""


class ConnectionFailure(TemporaryFailure):
    """The relay could not be reached or dropped the connection: nothing more goes now."""


class PermanentFailure(DeliveryError):
    """A 5xx reply: this mail to this recipient will not be accepted."""


def _classify(code: int, text: bytes | str) -> DeliveryError:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reply = f"{code} {text}".strip()
    return PermanentFailure(reply) if 500 <= code < 600 else TemporaryFailure(reply)


class SMTPConnection:
    """One SMTP session, opened on first use and reused for every following message.

    Where the relay offers PIPELINING (RFC 2920) the envelope and DATA go in one write, so
    a message costs two round trips instead of four. The message is handed over only with
    its final dot; ``before_handover`` runs right before that, while everything else of the
    transaction has already crossed the wire (the sender waits there for the previous
    message's outcome to be stored, which keeps a crash from repeating more than one).
    """

    def __init__(self, config) -> None:
        self._config = config
        self._smtp: smtplib.SMTP | None = None
        self._pipelining = False

    def _open(self) -> smtplib.SMTP:
        c = self._config
        host, port, timeout = c["MAIL_SERVER"], c["MAIL_PORT"], c["MAIL_TIMEOUT"]
        if c["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
            if c["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
        # The final dot is a small write right after the message: without this, Nagle's
        # algorithm holds it back until the relay's delayed ACK (some 40 ms per message).
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo_or_helo_if_needed()
        if c.get("MAIL_USERNAME"):
            smtp.login(c["MAIL_USERNAME"], c.get("MAIL_PASSWORD") or "")
        self._pipelining = smtp.has_extn("pipelining")
        return smtp

    def send(self, mail: RawMail, before_handover: Callable[[], object] | None = None) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._open()
            self._transaction(self._smtp, mail, before_handover)
        except ConnectionFailure:
            self.close()
            raise
        except DeliveryError:  # this message was refused; the session goes on
            self._reset()
            raise
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self.close()
            raise ConnectionFailure(f"connection: {exc}") from exc

    def _transaction(self, smtp: smtplib.SMTP, mail: RawMail, before_handover) -> None:
        commands = [f"MAIL FROM:<{mail.sender}>\r\n", f"RCPT TO:<{mail.recipient}>\r\n", "DATA\r\n"]
        if self._pipelining:
            smtp.send("".join(commands).encode("ascii"))
            replies = [smtp.getreply() for _ in commands]
        else:
            replies = []
            for command in commands:
                smtp.send(command.encode("ascii"))
                replies.append(smtp.getreply())
                if replies[-1][0] >= 400:
                    break
        (mail_code, mail_text), *rest = replies
        for code, text in replies:
            if code == 421:  # the relay is closing the session
                raise ConnectionFailure(f"421 {text!r}")
        if mail_code >= 400:  # the relay refuses our sender: nothing can go now
            raise ConnectionFailure(f"sender refused: {mail_code} {mail_text!r}")
        (rcpt_code, rcpt_text), *data_reply = rest
        if rcpt_code >= 400:
            if data_reply and data_reply[0][0] == 354:  # a relay that opened DATA anyway: close it empty
                smtp.send(b".\r\n")
                smtp.getreply()
            raise _classify(rcpt_code, rcpt_text)
        data_code, data_text = data_reply[0]
        if data_code != 354:
            raise _classify(data_code, data_text)
        smtp.send(_dot_stuffed(mail.data))
        if before_handover is not None:
            before_handover()
        smtp.send(b".\r\n")
        code, text = smtp.getreply()
        if code == 421:
            raise ConnectionFailure(f"421 {text!r}")
        if code != 250:
            raise _classify(code, text)

    def _reset(self) -> None:
        """After a refused transaction, make the session ready for the next message."""
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA content (RFC 5321 §4.5.2), ending in CRLF. Messages are CRLF
    throughout already (:func:`mail.build_message`); base64 lines never start with a dot, so
    this usually copies nothing."""
    if data.startswith(b"."):
        data = b"." + data
    if b"\r\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class FileConnection:
    """Writes each message as ``<outbox>/<message-id>.eml``; the default for a single machine."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, mail: RawMail, before_handover: Callable[[], object] | None = None) -> None:
        if before_handover is not None:
            before_handover()
        name = mail.message_id.strip("<>").replace("/", "_") + ".eml"
        partial = self._folder / f".{name}.part"
        partial.write_bytes(mail.data)
        os.replace(partial, self._folder / name)  # readers never see half a file

    def close(self) -> None:
        pass


#: Parse as received and write back unchanged (no refolding of long headers).
_AS_RECEIVED = policy.default.clone(refold_source="none")


class MemoryConnection:
    """Keeps messages in a list on the app, for fast unit tests."""

    def __init__(self, sink: list[EmailMessage], lock: threading.Lock) -> None:
        self._sink, self._lock = sink, lock

    def send(self, mail: RawMail, before_handover: Callable[[], object] | None = None) -> None:
        if before_handover is not None:
            before_handover()
        message = message_from_bytes(mail.data, policy=_AS_RECEIVED)
        with self._lock:
            self._sink.append(message)

    def close(self) -> None:
        pass


def init_app(app: Flask) -> None:
    app.extensions["mail_memory_outbox"] = []
    app.extensions["mail_memory_lock"] = threading.Lock()


def outbox_folder(app: Flask) -> Path:
    return Path(app.instance_path) / "outbox"


@contextmanager
def connect(app: Flask):
    """Open the configured transport for a run of messages and close it afterwards."""
    backend = app.config["MAIL_BACKEND"]
    if backend == "smtp":
        connection = SMTPConnection(app.config)
    elif backend == "file":
        connection = FileConnection(outbox_folder(app))
    else:
        connection = MemoryConnection(app.extensions["mail_memory_outbox"], app.extensions["mail_memory_lock"])
    try:
        yield connection
    finally:
        connection.close()

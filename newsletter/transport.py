"""Where rendered mails go: an SMTP relay, the outbox folder, or memory (tests).

Every transport is opened as a context manager yielding a connection with ``send(raw_mail)``.
``send`` raises :class:`TemporaryFailure` (4xx replies, connection trouble: try again later)
or :class:`PermanentFailure` (5xx replies: do not try again).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
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
    """One SMTP session, opened on first use and reused for every following message."""

    def __init__(self, config) -> None:
        self._config = config
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        c = self._config
        host, port, timeout = c["MAIL_SERVER"], c["MAIL_PORT"], c["MAIL_TIMEOUT"]
        if c["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
            if c["MAIL_USE_TLS"]:
                smtp.starttls(context=ssl.create_default_context())
        if c.get("MAIL_USERNAME"):
            smtp.login(c["MAIL_USERNAME"], c.get("MAIL_PASSWORD") or "")
        return smtp

    def send(self, mail: RawMail) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._open()
            refused = self._smtp.sendmail(mail.sender, [mail.recipient], mail.data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classify(code, text) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code in (421,) or exc.smtp_code < 400:
                self.close()
                raise ConnectionFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            self._reset()
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self.close()
            raise ConnectionFailure(f"connection: {exc}") from exc
        if refused:
            code, text = next(iter(refused.values()))
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


class FileConnection:
    """Writes each message as ``<outbox>/<message-id>.eml``; the default for a single machine."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, mail: RawMail) -> None:
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

    def send(self, mail: RawMail) -> None:
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

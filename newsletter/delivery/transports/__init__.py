"""Where rendered mails go: an SMTP relay (:mod:`.smtp`), the outbox folder (:mod:`.files`),
or memory (:mod:`.memory`, for tests); each a :class:`~.base.Connection`."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask

from .base import Connection
from .files import FileConnection
from .memory import MemoryConnection
from .smtp import SMTPConnection


def init_app(app: Flask) -> None:
    app.extensions["mail_memory_outbox"] = []
    app.extensions["mail_memory_lock"] = threading.Lock()


def outbox_folder(app: Flask) -> Path:
    return Path(app.instance_path) / "outbox"


def open_connection(app: Flask) -> Connection:
    """A connection of the configured transport; SMTP connects on its first message."""
    backend = app.config["MAIL_BACKEND"]
    if backend == "smtp":
        return SMTPConnection(app.config)
    if backend == "file":
        return FileConnection(outbox_folder(app))
    return MemoryConnection(app.extensions["mail_memory_outbox"], app.extensions["mail_memory_lock"])

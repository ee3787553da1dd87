"""The bounce listener (BOUNCE_SMTP_LISTEN): an SMTP server in the worker that takes reports
for BOUNCE_ADDRESS and its VERP addresses only, and stores each one before it answers 250.

aiosmtpd runs it on an event loop of its own thread. RCPT for any other address is refused
(550 5.1.1), so the listener is no open relay and no mailbox for anybody. DATA is written to
the database and committed on a thread of the default executor (the loop never waits for the
database); only then comes the 250, so a worker dying right after loses nothing, and a
report that could not be stored gets a 451 (the sending MTA tries again). What a report
says is worked out later, by the worker's job (:func:`.bounce_reports.process_waiting`).
"""

from __future__ import annotations

import asyncio
import logging

from typing import TYPE_CHECKING

from flask import Flask

from . import bounce_reports
from .delivery import verp
from .extensions import db
from .settings import listen_address

if TYPE_CHECKING:  # aiosmtpd is imported in start(): only a worker with BOUNCE_SMTP_LISTEN runs it
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

logger = logging.getLogger(__name__)


class ListenError(RuntimeError):
    """The listener could not start; the message says where and why."""


class _ReportHandler:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._verp = verp.from_config(app.config)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options) -> str:
        if not self._verp.accepts(address):
            return "550 5.1.1 No such mailbox: this server takes bounce reports only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            report_id = await asyncio.get_running_loop().run_in_executor(None, self._store, envelope)
        except Exception:
            logger.exception("a bounce report could not be stored; the sender was told to try again")
            return "451 4.3.0 The report could not be stored; try again later"
        logger.info("bounce report %r stored", report_id)
        return "250 2.0.0 Report stored"

    def _store(self, envelope: Envelope) -> int:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        with self._app.app_context():
            try:
                report = bounce_reports.store(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
                db.session.commit()
                return report.id
            except Exception:
                db.session.rollback()
                raise


def start(app: Flask) -> Controller:
    """Start listening on BOUNCE_SMTP_LISTEN; returns the running controller (``.stop()`` it)."""
    from aiosmtpd.controller import Controller

    host, port = listen_address(app.config["BOUNCE_SMTP_LISTEN"])
    controller = Controller(
        _ReportHandler(app),
        hostname=host,
        port=port,
        data_size_limit=app.config["BOUNCE_MAX_BYTES"],
        decode_data=False,
        server_hostname=host,
        ident="newsletter bounce listener",
    )
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:  # the port is taken, the host not ours, …
        controller.loop.close()  # the controller made it; nothing else will close it
        raise ListenError(f"BOUNCE_SMTP_LISTEN {host}:{port}: cannot listen there: {exc}") from None
    logger.info("bounce listener on %s:%s", host, port)
    return controller

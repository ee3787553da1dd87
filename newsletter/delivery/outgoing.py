"""What every composed mail gets last, per mail: its VERP envelope sender (:mod:`.verp`,
with BOUNCE_ADDRESS) and its DKIM signature (:mod:`.dkim`, with DKIM_*)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from flask import Flask

from . import dkim, verp
from .compose import RawMail


class Outgoing:
    """Made once per sender from the app's settings and its DKIM key (read at start)."""

    def __init__(self, app: Flask) -> None:
        self._verp = verp.from_config(app.config)
        self._dkim = dkim.signer(app)

    def finish(self, mail: RawMail, delivery_id: int, now: datetime) -> RawMail:
        if self._verp is not None:
            mail = replace(mail, sender=self._verp.address(delivery_id))
        if self._dkim is not None:
            mail = self._dkim.sign(mail, now)
        return mail

"""Mail kept in a list on the app, for fast tests."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from ..compose import RawMail
from .base import BeforeHandover, delivered

#: Parse as received and write back unchanged (no refolding of long headers).
_AS_RECEIVED = policy.default.clone(refold_source="none")


class MemoryConnection:
    """Keeps messages in a list on the app, for fast unit tests."""

    def __init__(self, sink: list[EmailMessage], lock: threading.Lock) -> None:
        self._sink, self._lock = sink, lock

    async def send(self, mail: RawMail, before_handover: BeforeHandover | None = None) -> None:
        if before_handover is not None:
            await before_handover()
        message = message_from_bytes(delivered(mail), policy=_AS_RECEIVED)
        with self._lock:
            self._sink.append(message)

    async def close(self) -> None:
        pass

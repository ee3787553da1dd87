"""The outbox folder: every mail a file, for a single machine without a relay."""

from __future__ import annotations

import os
from pathlib import Path

from ..compose import RawMail
from .base import BeforeHandover, delivered


class FileConnection:
    """Writes each message as ``<outbox>/<message-id>.eml``; the default for a single machine."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def send(self, mail: RawMail, before_handover: BeforeHandover | None = None) -> None:
        if before_handover is not None:
            await before_handover()
        name = mail.message_id.strip("<>").replace("/", "_") + ".eml"
        partial = self._folder / f".{name}.part"
        partial.write_bytes(delivered(mail))
        os.replace(partial, self._folder / name)  # readers never see half a file

    async def close(self) -> None:
        pass

"""What every transport is: a :class:`Connection` that takes rendered mails one by one, and
the ways a relay can refuse one (:class:`DeliveryError` and its kinds; what each does to the
mail is decided in :func:`newsletter.delivery.outcomes.after_refusal`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ..compose import RawMail

#: Awaited right before a mail is handed over for good (the final dot of SMTP's DATA); if it
#: raises, the mail is not handed over.
BeforeHandover = Callable[[], Awaitable[object]]


def delivered(mail: RawMail) -> bytes:
    """``mail`` as a final delivery stores it: with the Return-Path its envelope sender (MAIL
    FROM, a VERP address with BOUNCE_ADDRESS) gives it (RFC 5321 §4.4). For the transports that
    are the last stop themselves (the outbox folder, memory); a relay gets the envelope instead."""
    return b"Return-Path: <" + mail.sender.encode("ascii") + b">\r\n" + mail.data


class Connection(Protocol):
    """One connection to where mail goes, used on the sender's event loop and reused for
    every mail of a run."""

    async def send(self, mail: RawMail, before_handover: BeforeHandover | None = None) -> None:
        """Hand ``mail`` over, awaiting ``before_handover`` first.

        :raises DeliveryError: the mail was refused (see its subclasses)."""

    async def close(self) -> None:
        """End the connection; it may be used again, and then opens anew."""


class DeliveryError(Exception):
    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply[:512]


class TemporaryFailure(DeliveryError):
    """Try again later: a 4xx reply or a connection that failed."""


class ConnectionFailure(TemporaryFailure):
    """The relay could not be reached, dropped the connection, or broke the protocol (a reply
    the client cannot trust ends the connection): nothing more goes now."""


class PermanentFailure(DeliveryError):
    """A 5xx reply: this mail to this recipient will not be accepted (whether for the address,
    a hard bounce, or for the message: :mod:`newsletter.delivery.replies`)."""

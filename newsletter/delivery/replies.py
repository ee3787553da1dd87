"""What a relay's refusal says: about the recipient's address, or about the message.

Read as SPEC §10 says: by the enhanced status code (RFC 3463, given at the start of the reply
text, RFC 2034) first, by the basic reply code (RFC 5321 §4.2) where there is none. The basic
code alone decides temporary (4xx) or permanent (5xx); an enhanced code whose class differs
from it is no enhanced code (as Postfix reads it), so a relay cannot turn one into the other.
Only an address failure (5.1.x, or 550/551/553 without an enhanced code) is a hard bounce;
any other permanent refusal (552, 554, 5.2.x–5.7.x, …) is about this message, the relay's
policy or the protocol, and fails the mail without counting against the reader.

A pure helper: no app, no database.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Kind(enum.StrEnum):
    TEMPORARY = "temporary"  #: 4xx: try again later
    ADDRESS = "address"  #: 5xx, the recipient's address is bad: a hard bounce
    MESSAGE = "message"  #: 5xx about the message, policy or protocol: fails that mail, no bounce


#: Basic codes that say the address is bad, where no enhanced code says otherwise.
_ADDRESS_CODES = frozenset({550, 551, 553})

#: "550 5.1.1 text": the basic code, then (optionally) an enhanced code of RFC 3463's grammar
#: (no leading zeros, at most three digits each) followed by a space or the end.
_REPLY = re.compile(r"([45])\d\d(?= |\n|$)(?: ([245])\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})(?= |\n|$))?")


@dataclass(frozen=True, slots=True)
class Refusal:
    code: int
    #: The enhanced status code ("5.3.4"), or the basic code ("552") where there is none;
    #: refusals with the same one failed the same way.
    status: str
    kind: Kind


def parse(reply: str) -> Refusal | None:
    """The refusal a reply as stored (``"552 5.3.4 Message too big"``) says; None for anything
    that is no 4xx or 5xx reply (a broken connection's text, a 2xx)."""
    match = _REPLY.match(reply)
    if match is None:
        return None
    code = int(reply[:3])
    enhanced = match.group(2) == match.group(1)
    status = ".".join(match.group(2, 3, 4)) if enhanced else str(code)
    if code < 500:
        kind = Kind.TEMPORARY
    elif enhanced:
        kind = Kind.ADDRESS if match.group(3) == "1" else Kind.MESSAGE
    else:
        kind = Kind.ADDRESS if code in _ADDRESS_CODES else Kind.MESSAGE
    return Refusal(code, status, kind)


#: An enhanced status code alone, as a DSN's Status field gives it (RFC 3464 §2.3.4).
_STATUS = re.compile(r"([245])\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})")


def classify_status(status: str) -> Refusal | None:
    """What an enhanced status code alone says (a report's ``Status: 5.1.1``), by the same rule
    as a reply: 4.x.x temporary, 5.1.x the address, any other 5.x.x the message or a policy;
    None for a success (2.x.x) or anything else."""
    match = _STATUS.fullmatch(status.strip())
    if match is None or match.group(1) == "2":
        return None
    if match.group(1) == "4":
        return Refusal(400, match.group(0), Kind.TEMPORARY)
    return Refusal(500, match.group(0), Kind.ADDRESS if match.group(2) == "1" else Kind.MESSAGE)


def printable(text: str, limit: int = 200) -> str:
    """A relay's text safe to show and print: control characters (terminal escapes, line
    breaks) as spaces, at most ``limit`` characters."""
    cleaned = "".join(char if char.isprintable() else " " for char in text[: limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"

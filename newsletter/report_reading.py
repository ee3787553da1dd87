"""What a report that came back says: a DSN (RFC 3464), a bounce in one of the common
non-standard formats (read by flufl.bounce, Mailman's detectors), an ARF complaint (RFC 5965),
an automatic reply (RFC 3834), or nothing that can be read.

Everything here is hostile input: the parser never raises on it (anything it cannot read is
``unknown``), addresses and Message-IDs are only compared with ours, never followed, and the
diagnostic is kept printable and short. A pure helper: no app, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from .delivery import replies
from .models.bounce import ReportKind

_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|abwesenheit|automatic reply|automatische antwort|auto[- ]?reply|autoreply"
    r"|vacation|urlaub|abwesend)",
    re.IGNORECASE,
)
#: The Feedback-Types (RFC 5965 §7.3) that are a reader's complaint.
_COMPLAINTS = frozenset({"abuse", "fraud"})


@dataclass(frozen=True)
class Reading:
    kind: ReportKind
    #: The addresses the report says failed or complained, lower-case.
    recipients: tuple[str, ...] = ()
    #: The Message-IDs of the original mail quoted in the report.
    message_ids: tuple[str, ...] = ()
    #: The enhanced status code ("5.1.1") where the report gives one.
    status: str | None = None
    #: The remote server's words (Diagnostic-Code), printable and short.
    detail: str | None = None


def read(raw: bytes) -> Reading:
    """What ``raw`` says; :attr:`ReportKind.UNKNOWN` for anything that cannot be read."""
    try:
        message = message_from_bytes(raw, policy=policy.compat32)
        return _read(message)
    except Exception:  # hostile or broken input must never stop the processing of the others
        return Reading(ReportKind.UNKNOWN, detail="the report could not be parsed")


def _read(message: Message) -> Reading:
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type", "") or "").lower()
        if report_type == "feedback-report":
            return _complaint(message)
        if report_type == "delivery-status":
            reading = _dsn(message)
            if reading is not None:
                return reading
    from flufl.bounce import all_failures  # here, not above: only the job reading reports needs it

    temporary, permanent = all_failures(message)
    if permanent or temporary:
        kind = ReportKind.HARD if permanent else ReportKind.SOFT
        addresses = tuple(sorted(_text(address).lower() for address in (permanent or temporary)))
        return Reading(kind, addresses, _original_ids(message), detail="a non-standard bounce (read by flufl.bounce)")
    if _auto_reply(message):
        return Reading(ReportKind.AUTO_REPLY, detail=replies.printable(str(message.get("Subject", "")), 200))
    return Reading(ReportKind.UNKNOWN)


def _dsn(message: Message) -> Reading | None:
    """The first recipient a DSN says failed or is delayed; None for a DSN without one."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            return None
        for block in blocks[1:]:  # the first block is about the message, the rest per recipient
            reading = _recipient(block, message)
            if reading is not None:
                return reading
    return None


def _recipient(block: Message, report: Message) -> Reading | None:
    action = str(block.get("Action", "")).strip().lower()
    if action not in ("failed", "delayed"):
        return None  # delivered, relayed, expanded: no failure
    status = str(block.get("Status", "")).strip().split(" ")[0]
    diagnostic = str(block.get("Diagnostic-Code", ""))
    refusal = replies.classify_status(status)
    if refusal is None:
        refusal = replies.parse(diagnostic.partition(";")[2].strip())
    if action == "delayed" or (refusal is not None and refusal.kind is replies.Kind.TEMPORARY):
        kind = ReportKind.SOFT
    elif refusal is None or refusal.kind is replies.Kind.ADDRESS:
        kind = ReportKind.HARD  # failed for good without a readable code: RFC 3464 §2.3.3
    else:
        kind = ReportKind.MESSAGE
    recipients = tuple(
        dict.fromkeys(
            address
            for name in ("Final-Recipient", "Original-Recipient")
            if (address := _typed_address(block.get(name)))
        )
    )
    return Reading(
        kind,
        recipients,
        _original_ids(report),
        status=refusal.status if refusal is not None else None,
        detail=replies.printable(diagnostic.partition(";")[2].strip() or diagnostic, 300) or None,
    )


def _complaint(message: Message) -> Reading:
    fields = None
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            fields = payload[0] if isinstance(payload, list) and payload else None
            break
    if fields is None:
        return Reading(ReportKind.UNKNOWN, detail="a feedback report without its fields")
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in _COMPLAINTS:
        return Reading(ReportKind.UNKNOWN, detail=replies.printable(f"feedback report of type {feedback_type!r}", 100))
    recipients = [_address(value) for value in fields.get_all("Original-Rcpt-To", [])]
    original = _original(message)
    if not any(recipients) and original is not None:
        recipients = [address.lower() for _, address in getaddresses(original.get_all("To", []))]
    return Reading(
        ReportKind.COMPLAINT,
        tuple(address for address in recipients if address),
        _original_ids(message),
        detail=replies.printable(f"Feedback-Type: {feedback_type}", 100),
    )


def _original(message: Message) -> Message | None:
    """The headers of the original mail a report quotes (message/rfc822 or text/rfc822-headers)."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        elif content_type == "text/rfc822-headers":
            payload = part.get_payload(decode=True) or b""
            return HeaderParser(policy=policy.compat32).parsestr(payload.decode("ascii", "replace"))
    return None


def _original_ids(message: Message) -> tuple[str, ...]:
    original = _original(message)
    if original is None:
        return ()
    return tuple(_MESSAGE_ID.findall(str(original.get("Message-ID", ""))))[:1]


def _auto_reply(message: Message) -> bool:
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    return (
        (auto not in ("", "no"))
        or any(message.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"))
        or str(message.get("Precedence", "")).strip().lower() == "auto_reply"
        or bool(_AUTO_SUBJECT.match(str(message.get("Subject", ""))))
    )


def _typed_address(value: object) -> str | None:
    """``rfc822; anna@example.org`` → ``anna@example.org``."""
    if value is None:
        return None
    kind, _, address = str(value).partition(";")
    return _address(address) if kind.strip().lower() == "rfc822" else None


def _address(value: object) -> str | None:
    address = str(value).strip().strip("<>").strip().lower()
    return address if 3 <= len(address) <= 254 and address.count("@") == 1 and address.isprintable() else None


def _text(value: bytes | str) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value

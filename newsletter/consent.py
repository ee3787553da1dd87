"""Consent evidence (SPEC §7): the only module that writes consent events.

Events are appended, never updated or deleted, and each subscriber's events form a hash chain
(:mod:`.evidence` computes and verifies it: every event hashes its own content together with
the previous event's hash), so a changed or removed row is detectable;
``Subscriber.evidence_head`` holds the hash of the latest event, so removing the latest events
is detectable too (``flask verify-evidence``). The personal columns (IP address, user agent)
enter the chain only through ``personal_digest``, a salted hash.

"Append-only" does not mean "personal data forever". There are exactly two exceptions, both
here:

1. Erasure (:func:`scrub_personal`) — the single allowed change of a recorded row — removes
   the personal columns and the salt and keeps the digest, so the chain still verifies while
   nothing personal remains.
2. Sign-ups that were never confirmed are deleted whole after UNCONFIRMED_RETENTION_DAYS
   (:func:`delete_unconfirmed`): there is no consent to prove, so there is nothing to keep.

The ORM guard below refuses every other update or delete of an event; bulk statements pass
it by, so no other module issues one.

The subscriber's ``status`` is moved in step with each event here, in the same transaction.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import bindparam, delete, exists, insert, inspect, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from . import bulk, clock
from .evidence import chain_hash, personal_digest_of, seal, text_sha256
from .extensions import db
from .models import (
    ConsentChannel,
    ConsentEvent,
    ConsentEventType,
    ConsentText,
    Subscriber,
    SubscriberStatus,
)
from .models.consent import STATUS_AFTER
from .models.subscriber import new_nonce

DEFAULT_STATEMENTS = {
    "de": (
        "Mit einem Klick auf „{button}“ willige ich ein, dass {site_name} mir Produktneuigkeiten, "
        "Finanznachrichten und Sonderangebote per E-Mail zusendet. Meine E-Mail-Adresse wird nur "
        "dafür verwendet. Ich kann diese Einwilligung jederzeit ohne Angabe von Gründen mit "
        "Wirkung für die Zukunft widerrufen, etwa über den Abmeldelink in jeder E-Mail. Die "
        "Rechtmäßigkeit der bis zum Widerruf erfolgten Verarbeitung bleibt davon unberührt."
    ),
    "en": (
        "By clicking “{button}” I agree that {site_name} may send me product news, financial "
        "news and special offers by email. My email address is used for this purpose only. I "
        "can withdraw this consent at any time, without giving reasons, with effect for the "
        "future, for example through the unsubscribe link in every email. Withdrawal does not "
        "affect the lawfulness of the processing carried out before it."
    ),
}


def statement(language: str) -> str:
    """The consent statement in ``language`` exactly as the sign-up form shows it."""
    configured = current_app.config.get("CONSENT_TEXT") or {}
    template = configured.get(language) or DEFAULT_STATEMENTS.get(language) or DEFAULT_STATEMENTS["en"]
    with force_locale(language):
        button = gettext("Subscribe")
    return template.format(site_name=current_app.config["SITE_NAME"], button=button)


def operator_statement(language: str) -> str | None:
    """The statement in ``language`` when it is the operator's own wording (CONSENT_TEXT), else
    None: the built-in wording, whose purposes the built-in privacy notice names."""
    if not (current_app.config.get("CONSENT_TEXT") or {}).get(language):
        return None
    return statement(language)


#: How precisely ``ConsentText.last_shown_at`` follows the form's views: one write per hour
#: and wording at most, not one per page view.
LAST_SHOWN_PRECISION = timedelta(hours=1)


def text_version(language: str) -> ConsentText:
    """The stored version of the current statement in ``language``, created when first shown.

    Also moves its ``last_shown_at`` forward (within :data:`LAST_SHOWN_PRECISION`), so the
    versions tell which wording the form showed when.
    """
    text = statement(language)
    digest = text_sha256(text)
    version = find_text_version(digest)
    now = clock.now()
    if version is not None:
        if now - version.last_shown_at >= LAST_SHOWN_PRECISION:
            version.last_shown_at = now
        return version
    version = ConsentText(sha256=digest, language=language, text=text, first_shown_at=now, last_shown_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(version)
    except IntegrityError:  # another request stored the same wording first
        version = find_text_version(digest)
    return version


def find_text_version(sha256: str) -> ConsentText | None:
    return db.session.execute(select(ConsentText).filter_by(sha256=sha256)).scalar_one_or_none()


def evidence_ip(ip: str | None) -> str | None:
    """The client IP as EVIDENCE_IP says to keep it: full, truncated (/24, /48) or none."""
    mode = current_app.config["EVIDENCE_IP"]
    if ip is None or mode == "none":
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if mode == "full":
        return str(address)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def record(
    subscriber: Subscriber,
    type: ConsentEventType,
    channel: ConsentChannel,
    *,
    text: ConsentText | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
    inserted: bool = False,
) -> ConsentEvent:
    """Append one consent event for ``subscriber`` and move its status accordingly.

    Flushes, never commits: the caller's transaction decides whether the event lands.

    :param inserted: the subscriber's row was inserted by this transaction, so no other can
        see it, let alone chain an event onto it: it need not be read again and locked.
    """
    at = at or clock.now()
    db.session.add(subscriber)
    db.session.flush()
    if not inserted:
        # Lock the subscriber so two concurrent events cannot chain onto the same predecessor.
        db.session.refresh(subscriber, with_for_update=True)
    # Chain onto the recorded head rather than onto the newest row found: were the newest
    # rows deleted, chaining onto what is left would hide the gap for good.
    prev_hash = subscriber.evidence_head
    if text is not None and type is ConsentEventType.REQUESTED and at - text.last_shown_at >= LAST_SHOWN_PRECISION:
        text.last_shown_at = at  # shown then, on the form: kept to the hour, not a write per sign-up
    keep_personal = type in (ConsentEventType.REQUESTED, ConsentEventType.CONFIRMED, ConsentEventType.IMPORTED)
    event = ConsentEvent(
        subscriber_id=subscriber.id,
        type=type,
        at=at,
        channel=channel,
        consent_text=text,
        ip=evidence_ip(ip) if keep_personal else None,
        user_agent=user_agent[:512] if keep_personal and user_agent else None,
        detail=detail,
        personal_salt=secrets.token_hex(16),
        prev_hash=prev_hash,
    )
    seal(event)
    db.session.add(event)
    subscriber.evidence_head = event.hash
    _move_status(subscriber, type, at)
    db.session.flush()
    return event


def _move_status(subscriber: Subscriber, type: ConsentEventType, at: datetime) -> None:
    if type is ConsentEventType.REQUESTED:  # a request alone changes nothing until confirmed
        return
    subscriber.status = STATUS_AFTER[type]
    if type in (ConsentEventType.CONFIRMED, ConsentEventType.IMPORTED):
        subscriber.confirmed_at = at
        subscriber.withdrawn_at = None
    elif type is ConsentEventType.WITHDRAWN:
        subscriber.withdrawn_at = at


@dataclass(frozen=True)
class ImportedConsent:
    """Evidence of a double opt-in done elsewhere, for :func:`import_confirmed`."""

    email: str
    locale: str
    source: str | None
    ip: str | None
    consented_at: datetime
    confirmed_at: datetime


def import_confirmed(items: list[ImportedConsent]) -> None:
    """Insert new confirmed subscribers, each with its first event ``imported``, in bulk.

    Set-based statements instead of one ORM object per row: imports of 100k addresses stay
    fast. On PostgreSQL the ids come first from the sequence, so each subscriber row is written
    once, by COPY, already carrying its evidence head; elsewhere the subscribers are inserted,
    then their events, then the heads. The addresses must not exist yet (the importer checks).
    Flushes, never commits.
    """
    if not items:
        return
    now = clock.now()
    db.session.flush()
    subscribers, events_table = Subscriber.__table__, ConsentEvent.__table__
    if bulk.can_copy():
        ids = bulk.reserve_ids(subscribers, len(items))
        events = [_imported_event(subscriber_id, item, now) for subscriber_id, item in zip(ids, items, strict=True)]
        bulk.copy_rows(
            subscribers,
            (
                {**_imported_subscriber(item, now), "id": subscriber_id, "evidence_head": event["hash"]}
                for subscriber_id, item, event in zip(ids, items, events, strict=True)
            ),
            columns=["id", *_IMPORTED_SUBSCRIBER_COLUMNS, "evidence_head"],
        )
        bulk.copy_rows(events_table, events, columns=_IMPORTED_EVENT_COLUMNS)
        return
    ids = db.session.execute(
        insert(subscribers).returning(subscribers.c.id, sort_by_parameter_order=True),
        [_imported_subscriber(item, now) for item in items],
    ).scalars().all()
    events = [_imported_event(subscriber_id, item, now) for subscriber_id, item in zip(ids, items, strict=True)]
    db.session.execute(insert(events_table), events)
    db.session.execute(
        update(subscribers).where(subscribers.c.id == bindparam("subscriber")).values(evidence_head=bindparam("head")),
        [{"subscriber": event["subscriber_id"], "head": event["hash"]} for event in events],
    )


_IMPORTED_SUBSCRIBER_COLUMNS = [
    "email", "status", "locale", "confirm_nonce", "access_nonce", "created_at", "confirmed_at",
    "bounce_count", "source",
]
_IMPORTED_EVENT_COLUMNS = [
    "subscriber_id", "type", "at", "channel", "ip", "user_agent", "detail",
    "personal_salt", "personal_digest", "prev_hash", "hash",
]


def _imported_subscriber(item: ImportedConsent, now: datetime) -> dict[str, Any]:
    return {
        "email": item.email, "status": SubscriberStatus.CONFIRMED, "locale": item.locale,
        "confirm_nonce": new_nonce(), "access_nonce": new_nonce(), "created_at": now,
        "confirmed_at": item.confirmed_at, "bounce_count": 0, "source": item.source,
    }


def _imported_event(subscriber_id: int, item: ImportedConsent, now: datetime) -> dict[str, Any]:
    """The first event of an imported subscriber, with its place in the (new) hash chain."""
    salt, ip = secrets.token_hex(16), evidence_ip(item.ip)
    detail = {
        "consented_at": item.consented_at.isoformat(),
        "confirmed_at": item.confirmed_at.isoformat(),
        "source": item.source,
    }
    digest = personal_digest_of(salt, ip, None)
    chained = chain_hash(
        subscriber_id=subscriber_id, type=ConsentEventType.IMPORTED, at=now, channel=ConsentChannel.IMPORT,
        consent_text_sha256=None, personal_digest=digest, detail=detail, prev_hash="",
    )
    return {
        "subscriber_id": subscriber_id, "type": ConsentEventType.IMPORTED, "at": now,
        "channel": ConsentChannel.IMPORT, "ip": ip, "user_agent": None, "detail": detail,
        "personal_salt": salt, "personal_digest": digest, "prev_hash": "", "hash": chained,
    }


class AppendOnlyError(RuntimeError):
    """Something tried to change or delete a recorded consent event."""


def scrub_personal(event: ConsentEvent) -> None:
    """Remove the personal columns of ``event``: the one allowed change to a recorded event.

    ``personal_digest`` stays, so the hash chain still verifies; without the salt it no
    longer reveals anything about the removed values.
    """
    event.ip = None
    event.user_agent = None
    event.personal_salt = None
    event._scrubbing = True


def delete_unconfirmed(subscriber_ids: list[int]) -> int:
    """Delete every event of those of ``subscriber_ids`` that never confirmed; how many.

    The second documented exception to "append-only" (see the module docstring), for
    :mod:`newsletter.retention` only: a sign-up that was never confirmed proves no consent,
    and its data must go (COMPLIANCE item 16). The condition is checked again in the
    statement itself, so a subscriber confirmed in the meantime keeps its evidence.
    Flushes, never commits.
    """
    if not subscriber_ids:
        return 0
    other = aliased(ConsentEvent)
    never_confirmed = select(Subscriber.id).where(
        Subscriber.id.in_(subscriber_ids),
        Subscriber.status == SubscriberStatus.PENDING,
        Subscriber.confirmed_at.is_(None),
        ~exists().where(other.subscriber_id == Subscriber.id, other.type == ConsentEventType.IMPORTED),
    )
    result = db.session.execute(
        delete(ConsentEvent)
        .where(ConsentEvent.subscriber_id.in_(never_confirmed))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


@sa_event.listens_for(ConsentEvent, "before_update")
def _refuse_update(_mapper, _connection, target: ConsentEvent) -> None:
    if not getattr(target, "_scrubbing", False):
        raise AppendOnlyError(f"consent event {target.id} is append-only")
    changed = {attr.key for attr in inspect(target).attrs if attr.history.has_changes()}
    if not changed <= {"ip", "user_agent", "personal_salt"}:
        raise AppendOnlyError(f"erasure may only scrub personal columns, not {sorted(changed)}")


@sa_event.listens_for(ConsentEvent, "before_delete")
def _refuse_delete(_mapper, _connection, target: ConsentEvent) -> None:
    raise AppendOnlyError(f"consent event {target.id} is append-only")


def history(subscriber: Subscriber) -> list[ConsentEvent]:
    """The subscriber's events, oldest first."""
    return list(
        db.session.execute(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id).order_by(ConsentEvent.id)
        ).scalars()
    )


def event_as_dict(event: ConsentEvent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": str(event.type),
        "at": event.at.isoformat(),
        "channel": str(event.channel),
    }
    if event.consent_text is not None:
        data["consent_text"] = {
            "sha256": event.consent_text.sha256,
            "language": event.consent_text.language,
            "text": event.consent_text.text,
        }
    if event.type in (ConsentEventType.REQUESTED, ConsentEventType.CONFIRMED, ConsentEventType.IMPORTED):
        data["ip"] = event.ip
        data["user_agent"] = event.user_agent
    if event.detail:
        data["detail"] = event.detail
    return data


def evidence(subscriber: Subscriber) -> dict[str, Any]:
    """Everything SPEC §7 asks an export to say about an address."""
    return {
        "email": subscriber.email,
        "status": str(subscriber.status),
        "events": [event_as_dict(event) for event in history(subscriber)],
    }

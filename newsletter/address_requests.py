"""What anybody can ask for an address by typing it into a form: a sign-up, a fresh
preferences link.

The web request only writes down the request (:func:`submit`): one INSERT, the same work
whatever the address's state, so neither its answer nor its timing tells whether an address
is known, pending, confirmed or withdrawn (SPEC §3, no enumeration). The worker carries the
requests out (:func:`carry_out`) shortly after, in the order they came, each in a
transaction of its own: it records the consent event with the request's time, IP address
and user agent, applies the per-address caps and queues the mail.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from . import addresscap, clock, subscribers
from . import preferences as prefs
from .extensions import db
from .models import AddressRequest, AddressRequestKind, ConsentChannel
from .wording import Wording

logger = logging.getLogger(__name__)


def submit_sign_up(
    email: str,
    *,
    text: Wording,
    locale: str,
    ip: str | None,
    user_agent: str | None,
    channel: ConsentChannel = ConsentChannel.FORM,
    source_url: str | None = None,
) -> None:
    """Write down a sign-up for ``email`` (normalised) with the wording the visitor saw and
    the page they were on; flushes, never commits."""
    _submit(
        AddressRequestKind.SIGN_UP, email, locale,
        channel=channel, consent_text_id=text.id, ip=ip, user_agent=user_agent[:512] if user_agent else None,
        source_url=source_url,
    )


def submit_preferences_link(email: str, locale: str) -> None:
    """Write down a request for a fresh preferences link to ``email``; flushes, never commits."""
    _submit(AddressRequestKind.PREFERENCES_LINK, email, locale)


def _submit(kind: AddressRequestKind, email: str, locale: str, **evidence) -> None:
    db.session.add(AddressRequest(kind=kind, email=email, locale=locale, requested_at=clock.now(), **evidence))
    db.session.flush()


#: Requests carried out in one transaction, at most.
BATCH = 25
#: On SQLite a batch also ends once it has taken this long: it holds the database's one
#: write lock, which the pages' sign-ups wait for.
SQLITE_BATCH_SECONDS = 0.02


def carry_out() -> int:
    """Carry out every request waiting now, oldest first, in batches of one transaction each
    (the per-address locks of :func:`newsletter.addresscap.lock` are held that long: a
    transaction per request cost a third more, issue 16); returns
    how many were done. A request that fails stays for the next run and stops no other: its
    batch is rolled back and carried out again one request per transaction.

    Several workers may run this at once: each request is taken by one of them.
    """
    done, failed = 0, set()
    while batch := _next_batch(failed):
        ids = [request.id for request in batch]
        try:
            done += _carry_out_batch(batch)
        except Exception:
            db.session.rollback()
            logger.warning(
                "a batch of %d address requests failed; carrying them out one by one", len(ids), exc_info=True
            )
            done += _one_by_one(ids, failed)
    return done


def _waiting():
    """Requests not taken by another worker, oldest first, each with its wording (joined),
    locked until the transaction ends."""
    return (
        select(AddressRequest)
        .options(joinedload(AddressRequest.consent_text))
        .order_by(AddressRequest.id)
        .with_for_update(skip_locked=True, of=AddressRequest)
    )


def _next_batch(failed: set[int]) -> list[AddressRequest]:
    return list(db.session.scalars(_waiting().where(AddressRequest.id.not_in(failed)).limit(BATCH)))


def _carry_out_batch(batch: list[AddressRequest]) -> int:
    """Carry out ``batch`` (in order) in one transaction, on SQLite only its start once
    SQLITE_BATCH_SECONDS have passed (the rest is taken again next); how many."""
    # Every address's lock first, in one order, so that two workers' batches never wait on
    # each other (each request takes its address's lock again, at no cost).
    addresscap.lock(*(request.email for request in batch))
    on_sqlite = db.session.get_bind().dialect.name == "sqlite"
    ends = time.monotonic() + SQLITE_BATCH_SECONDS
    done = 0
    for request in batch:
        _carry_out(request)
        db.session.delete(request)
        done += 1
        if on_sqlite and time.monotonic() >= ends:
            break
    db.session.commit()
    return done


def _one_by_one(ids: list[int], failed: set[int]) -> int:
    done = 0
    for request_id in ids:
        request = db.session.scalars(_waiting().where(AddressRequest.id == request_id)).one_or_none()
        if request is None:  # taken by another worker meanwhile
            continue
        try:
            _carry_out(request)
            db.session.delete(request)
            db.session.commit()
            done += 1
        except Exception:
            db.session.rollback()
            logger.exception("could not carry out address request %r; it stays for the next run", request_id)
            failed.add(request_id)
    return done


def _carry_out(request: AddressRequest) -> None:
    if request.kind is AddressRequestKind.PREFERENCES_LINK:
        prefs.request_link(request.email, request.locale)
        return
    subscribers.request_subscription(
        request.email,
        text=request.consent_text,
        locale=request.locale,
        ip=request.ip,
        user_agent=request.user_agent,
        channel=request.channel or ConsentChannel.FORM,
        at=request.requested_at,
        source_url=request.source_url,
    )

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

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from . import clock, subscribers
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


def carry_out() -> int:
    """Carry out every request waiting now, oldest first, each in its own transaction (the
    per-address lock of :func:`newsletter.addresscap.lock` is held only that long); returns
    how many were done. A request that fails stays for the next run and stops no other.

    Requests that come in meanwhile wait for the next run: while the form is busier than the
    worker, carrying out would otherwise never end, and the mails it queued would not be sent
    until the sign-ups slowed down.

    Several workers may run this at once: each request is taken by one of them.
    """
    newest = db.session.scalar(select(func.max(AddressRequest.id)))
    if newest is None:
        return 0
    done, failed = 0, set()
    while (request := _next(failed, newest)) is not None:
        request_id = request.id
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


def _next(failed: set[int], newest: int) -> AddressRequest | None:
    return db.session.execute(
        select(AddressRequest)
        .options(joinedload(AddressRequest.consent_text))  # the wording, in the same statement
        .where(AddressRequest.id <= newest, AddressRequest.id.not_in(failed))
        .order_by(AddressRequest.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=AddressRequest)
    ).scalar_one_or_none()


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

"""The digest: every article not yet mailed (and not kept out), in one issue, queued for every
confirmed subscriber.

:func:`build_digest` is shared by the schedule, ``flask send-digest`` and the admin's "Send
now"; it only queues, the sender delivers (SPEC §6). Functions here flush but never commit.

Two rules make it safe to run anywhere at any time, even twice at once: an article is claimed
for a digest by one conditional UPDATE (``… WHERE digest_id IS NULL``), so it lands in at most
one digest; and deliveries are unique per (digest, subscriber).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import Integer, and_, func, insert, literal, select, update

from . import clock, suppression
from .addresses import normalise_email
from .delivery import compose, queue
from .extensions import db
from .models import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestTrigger,
    MailKind,
    Subscriber,
    SubscriberStatus,
)
from .webhooks import events

logger = logging.getLogger(__name__)

#: The columns :func:`_queue_deliveries` fills, in the order of its SELECT.
_DELIVERY_COLUMNS = (
    "kind",
    "subscriber_id",
    "digest_id",
    "context",
    "status",
    "attempts",
    "created_at",
    "next_attempt_at",
)


def build_digest(
    trigger: DigestTrigger,
    *,
    subject: str | None = None,
    intro: str | None = None,
    only: Collection[int] | None = None,
) -> Digest | None:
    """Put every article not yet in a digest (nor kept out of digests) into a new one and queue
    it for every confirmed subscriber; ``None`` when there is nothing new.

    :param subject: the subject in every language (checked by :func:`clean_subject`); None: the
        default, which names the lead article.
    :param intro: a plain-text paragraph above the articles (:func:`clean_intro`).
    :param only: the ids of the articles to take, of those (the admin left the others out for
        a later digest, and takes none that came in since the page was shown).

    When two builds race, the one that claims the articles first gets them; the other finds
    none left to claim and leaves no trace (its digest row is rolled back to a savepoint).
    """
    has_news = db.session.execute(select(Article.id).where(_waiting(only)).limit(1)).first()
    if has_news is None:
        return None
    now = clock.now()
    savepoint = db.session.begin_nested()
    digest = Digest(
        created_at=now, trigger=trigger, subject=subject or "", custom_subject=subject, intro=intro, recipient_count=0
    )
    db.session.add(digest)
    db.session.flush()
    claimed = _claim_articles(digest.id, only)
    if claimed == 0:  # another build took them between our look and our claim
        savepoint.rollback()
        logger.info("digest build (%s) found its articles claimed by a parallel build", trigger)
        return None
    if subject is None:
        digest.subject = _default_subject(digest.id, now)
    digest.recipient_count = _queue_deliveries(digest.id, now)
    savepoint.commit()
    db.session.flush()
    events.emit(
        events.DIGEST_SENT,
        {"id": digest.id, "subject": digest.subject, "articles": claimed, "recipients": digest.recipient_count},
    )
    logger.info(
        "digest %r (%s): %r articles queued for %r subscribers",
        digest.id,
        trigger,
        claimed,
        digest.recipient_count,
    )
    return digest


class DigestInputError(ValueError):
    """A subject or intro an admin gave cannot be used; the message says why."""


#: Size of Digest.subject; an intro is a paragraph or two, not an article.
MAX_SUBJECT_LENGTH = 255
MAX_INTRO_LENGTH = 2000


def clean_subject(subject: str | None) -> str | None:
    """A subject line as given, trimmed; None for nothing. One line, without control characters."""
    subject = (subject or "").strip()
    if not subject:
        return None
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in subject):
        raise DigestInputError("the subject must be a single line without control characters")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise DigestInputError(f"the subject is longer than {MAX_SUBJECT_LENGTH} characters")
    return subject


def clean_intro(intro: str | None) -> str | None:
    """An intro paragraph as plain text, line ends normalised, trimmed; None for nothing."""
    intro = (intro or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not intro:
        return None
    if any(unicodedata.category(char) == "Cc" and char != "\n" for char in intro):
        raise DigestInputError("the intro must be plain text without control characters")
    if len(intro) > MAX_INTRO_LENGTH:
        raise DigestInputError(f"the intro is longer than {MAX_INTRO_LENGTH} characters")
    return intro


def default_subject(locale: str, issued_at: datetime, lead: str | None = None, others: int = 0) -> str:
    """The default subject line in ``locale``: the site's name and the lead article (with how
    many others there are), or the date in TIMEZONE when there is none."""
    return compose.render_subject("digest", locale, issued_at=issued_at, lead=lead, others=others)


def _default_subject(digest_id: int, now: datetime) -> str:
    """The default subject in the default language, kept on the digest for the admin's history."""
    lead = db.session.execute(
        select(Article.title)
        .where(Article.digest_id == digest_id)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    others = article_count(digest_id) - 1
    return default_subject(current_app.config["LANGUAGES"][0], now, lead, others)[:MAX_SUBJECT_LENGTH]


def _waiting(only: Collection[int] | None):
    """The articles a new digest takes: in none yet, not kept out, and of ``only`` if given."""
    condition = and_(Article.digest_id.is_(None), Article.kept_out.is_(None))
    return condition if only is None else and_(condition, Article.id.in_(list(only)))


def _claim_articles(digest_id: int, only: Collection[int] | None) -> int:
    result = db.session.execute(
        update(Article)
        .where(_waiting(only))
        .values(digest_id=digest_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _queue_deliveries(digest_id: int, now: datetime) -> int:
    """One queued delivery per confirmed subscriber, in a single INSERT … SELECT."""
    columns = Delivery.__table__.c
    recipients = select(
        literal(MailKind.DIGEST, columns.kind.type),
        Subscriber.id,
        literal(digest_id, Integer),
        literal({}, columns.context.type),
        literal(DeliveryStatus.QUEUED, columns.status.type),
        literal(0, Integer),
        literal(now, columns.created_at.type),
        literal(now, columns.next_attempt_at.type),
    ).where(Subscriber.status == SubscriberStatus.CONFIRMED, Subscriber.email.is_not(None))
    result = db.session.execute(
        insert(Delivery)
        .from_select(_DELIVERY_COLUMNS, recipients)
        .execution_options(preserve_rowcount=True)
    )
    queue.refresh_statistics()
    return result.rowcount


class SuppressedAddress(ValueError):
    """The address is on the suppression list: nobody may mail it, not even a test."""


def queue_test(address: str, locale: str | None = None) -> Delivery:
    """Queue a preview of the next digest to ``address`` (an admin's own), in ``locale``.

    The preview shows the articles not yet in a digest as they are when it is sent, and
    carries no personal unsubscribe link: it goes to no subscriber.

    :raises ValueError: ``address`` is not a valid email address.
    :raises SuppressedAddress: ``address`` was erased at its owner's request.
    """
    languages = current_app.config["LANGUAGES"]
    address = normalise_email(address)
    if suppression.is_suppressed(address):
        raise SuppressedAddress(address)
    return queue.enqueue(
        MailKind.DIGEST_TEST,
        None,
        to_address=address,
        context={"locale": locale if locale in languages else languages[0]},
    )


def delivery_counts(digest_id: int) -> dict[DeliveryStatus, int]:
    """How many of the digest's deliveries are in each status (every status present, 0 or more)."""
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.digest_id == digest_id)
        .group_by(Delivery.status)
    ).all()
    counts = dict.fromkeys(DeliveryStatus, 0)
    counts.update({status: count for status, count in rows})
    return counts


@dataclass(frozen=True)
class UnsentGroup:
    """The digest's mails in one status that share the relay's last reply."""

    count: int
    reply: str | None
    #: The earliest next attempt among them (for mails to be retried).
    next_attempt_at: datetime


def unsent_groups(digest_id: int, status: DeliveryStatus, limit: int) -> list[UnsentGroup]:
    """The digest's deliveries in ``status`` by their last reply, the largest ``limit`` groups."""
    rows = db.session.execute(
        select(func.count(), Delivery.last_reply, func.min(Delivery.next_attempt_at))
        .where(Delivery.digest_id == digest_id, Delivery.status == status)
        .group_by(Delivery.last_reply)
        .order_by(func.count().desc(), Delivery.last_reply)
        .limit(limit)
    ).all()
    return [UnsentGroup(*row) for row in rows]


def article_count(digest_id: int) -> int:
    return db.session.execute(
        select(func.count()).where(Article.digest_id == digest_id)
    ).scalar_one()

"""The worker's webhook job: POST every event that is due, signed as Standard Webhooks.

Each message is claimed by a conditional UPDATE (so two workers never send it at the same
time), committed, then POSTed with no transaction open; the outcome is a second short
transaction. One attempt is bounded by WEBHOOK_TIMEOUT_SECONDS from connecting to the last
byte, and the URL's host is checked by the feed fetcher's rules again (its addresses may have
changed since it was added). A 2xx answer delivers; anything else is retried after
:data:`BACKOFF_SECONDS`, and after the last step the message fails. An endpoint that has
failed every attempt for :data:`DISABLE_AFTER` is disabled (the admin shows it and can switch
it on again).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from .. import clock, webclient
from ..extensions import db
from ..models import Webhook, WebhookMessage, WebhookStatus

logger = logging.getLogger(__name__)

#: Seconds to wait after the 1st, 2nd, … failed attempt (Standard Webhooks' suggestion); the
#: attempt after the last step is the last one. 5 s to 10 h: 27 h 15 min in all.
BACKOFF_SECONDS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
#: An endpoint failing every attempt this long is switched off.
DISABLE_AFTER = timedelta(days=5)
#: Messages taken per run of the job.
BATCH = 100
#: What of a receiver's answer is read (and thrown away).
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "newsletter-webhooks/1"


@dataclass(frozen=True)
class _Due:
    id: int
    message_id: str
    type: str
    data: dict[str, Any]
    created_at: datetime
    url: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None


def deliver_due() -> int:
    """Send what is due now; how many attempts were made. Commits."""
    attempts = 0
    for due in _due():
        if not _claim(due.id):
            continue
        outcome = post(due)
        _record(due.id, outcome)
        db.session.commit()
        attempts += 1
    return attempts


def _due() -> list[_Due]:
    rows = db.session.execute(
        select(
            WebhookMessage.id, WebhookMessage.message_id, WebhookMessage.type, WebhookMessage.data,
            WebhookMessage.created_at, Webhook.url, Webhook.secret,
        )
        .join(Webhook, Webhook.id == WebhookMessage.webhook_id)
        .where(
            WebhookMessage.status == WebhookStatus.PENDING,
            WebhookMessage.next_attempt_at <= clock.now(),
            Webhook.disabled_at.is_(None),
        )
        .order_by(WebhookMessage.id)
        .limit(BATCH)
    ).all()
    db.session.commit()
    return [_Due(*row) for row in rows]


def _claim(message_id: int) -> bool:
    """Move the message's next attempt past this one's end, unless another worker did first."""
    now = clock.now()
    lease = now + timedelta(seconds=3 * current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
    claimed = db.session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.id == message_id,
            WebhookMessage.status == WebhookStatus.PENDING,
            WebhookMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease)
    ).rowcount
    db.session.commit()
    return claimed == 1


def body_of(due: _Due) -> str:
    """The JSON posted: ``{"type", "timestamp", "data"}`` as Standard Webhooks suggests."""
    return json.dumps({"type": due.type, "timestamp": due.created_at.isoformat(), "data": due.data})


def post(due: _Due) -> Outcome:
    """One attempt, with no transaction open."""
    config = current_app.config
    timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    body = body_of(due)
    # The receiver compares the timestamp with its own clock (replay protection): the real time.
    sent_at = clock.Clock().now()
    import standardwebhooks  # here, not above: only the worker's webhook job signs

    signature = standardwebhooks.Webhook(due.secret).sign(due.message_id, sent_at, body)
    request = urllib.request.Request(
        due.url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": due.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        },
    )
    limits = webclient.Limits(
        allow_private=config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"], timeout=timeout, deadline=time.monotonic() + timeout
    )
    try:
        with webclient.opener(limits).open(request, timeout=timeout) as response:
            response.read(MAX_ANSWER_BYTES)
            return Outcome(response.status, None)
    except urllib.error.HTTPError as exc:
        exc.close()
        return Outcome(exc.code, f"HTTP {exc.code}")
    except urllib.error.URLError as exc:
        return Outcome(None, _reason(exc.reason))
    except (webclient.Refused, TimeoutError, OSError, HTTPException, ValueError) as exc:
        return Outcome(None, _reason(exc))


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    if isinstance(reason, webclient.Refused):
        return str(reason)
    return f"cannot connect: {type(reason).__name__}" if not isinstance(reason, str) else reason[:200]


def _record(message_id: int, outcome: Outcome) -> None:
    now = clock.now()
    message = db.session.get(WebhookMessage, message_id, with_for_update=True)
    if message is None:  # its endpoint was removed meanwhile
        return
    webhook = db.session.get(Webhook, message.webhook_id, with_for_update=True)
    message.attempts += 1
    message.last_attempt_at = now
    message.response_code = outcome.code
    message.last_error = outcome.error
    if outcome.delivered:
        message.status = WebhookStatus.DELIVERED
        webhook.failing_since = None
        return
    if message.attempts > len(BACKOFF_SECONDS):
        message.status = WebhookStatus.FAILED
    else:
        message.next_attempt_at = now + timedelta(seconds=BACKOFF_SECONDS[message.attempts - 1])
    webhook.failing_since = webhook.failing_since or now
    if webhook.disabled_at is None and now - webhook.failing_since >= DISABLE_AFTER:
        webhook.disabled_at = now
        logger.warning("webhook %r disabled: every attempt failed since %s", webhook.id, webhook.failing_since)

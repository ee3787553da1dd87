"""Adding, listing and removing webhook endpoints (``add-webhook``, the admin page).

A URL is checked when added by the rules of feed fetching (:mod:`newsletter.webclient`):
http(s) only, and every address of its host public unless WEBHOOK_ALLOW_PRIVATE_NETWORKS;
the worker checks again at every delivery (the host's addresses may change). Flushes, never
commits.
"""

from __future__ import annotations

import base64
import secrets
import urllib.parse
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from .. import clock, webclient
from ..extensions import db
from ..models import Webhook, WebhookMessage
from .events import EVENTS

MAX_URL_LENGTH = 2048


class WebhookError(ValueError):
    """A webhook cannot be added as given; the message says why (English)."""


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str) -> str:
    """``url`` if a webhook may be sent to it, else :class:`WebhookError`."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH or not url.isprintable():
        raise WebhookError(f"the URL must be one line of at most {MAX_URL_LENGTH} characters")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("the URL must be an absolute http or https URL")
    if parts.username or parts.password:
        raise WebhookError("the URL must not carry a user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = webclient.resolve(parts.hostname, port)
    except (OSError, ValueError, UnicodeError):
        raise WebhookError(f"the host {parts.hostname} cannot be found") from None
    if not current_app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"]:
        for address in addresses:
            kind = webclient.refusal(address)
            if kind is not None:
                raise WebhookError(
                    f"{parts.hostname} is {webclient.KIND_NAMES[kind]} ({address}); webhooks go only to"
                    " public addresses unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is on"
                )
    return url


def check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [event for event in chosen if event not in EVENTS]
    if unknown or not chosen:
        raise WebhookError(f"choose events among {', '.join(EVENTS)}")
    return chosen


def add(url: str, events: Iterable[str]) -> Webhook:
    """A new endpoint for ``events`` at ``url``; its ``secret`` is shown to the admin once."""
    webhook = Webhook(
        url=check_url(url), events=check_events(events), secret=new_secret(), created_at=clock.now()
    )
    db.session.add(webhook)
    db.session.flush()
    return webhook


def listed() -> list[Webhook]:
    return list(db.session.execute(select(Webhook).order_by(Webhook.id)).scalars())


def remove(webhook: Webhook) -> None:
    """Remove the endpoint and what was still to be sent to it."""
    db.session.execute(WebhookMessage.__table__.delete().where(WebhookMessage.webhook_id == webhook.id))
    db.session.delete(webhook)
    db.session.flush()


def enable(webhook: Webhook) -> None:
    """Switch a disabled endpoint on again; its failures start counting afresh."""
    webhook.disabled_at = None
    webhook.failing_since = None
    db.session.flush()


def recent_messages(webhook: Webhook, limit: int = 20) -> list[WebhookMessage]:
    return list(
        db.session.execute(
            select(WebhookMessage)
            .where(WebhookMessage.webhook_id == webhook.id)
            .order_by(WebhookMessage.id.desc())
            .limit(limit)
        ).scalars()
    )



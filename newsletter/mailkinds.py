"""What each kind of queued mail looks like and who may still receive it."""

from __future__ import annotations

from typing import Protocol

from flask import current_app

from . import mail
from .links import external_url
from .models import Delivery, MailKind, Subscriber, SubscriberStatus


class MailSpec(Protocol):
    def eligible(self, delivery: Delivery) -> bool:
        """Whether the mail may still go out; checked right before sending."""

    def content(self, delivery: Delivery) -> mail.Content: ...


class ConfirmMail:
    """The double-opt-in request: neutral, no advertising (COMPLIANCE items 10–11)."""

    def eligible(self, delivery: Delivery) -> bool:
        subscriber: Subscriber = delivery.subscriber
        return (
            subscriber.email is not None
            and subscriber.status not in (SubscriberStatus.CONFIRMED, SubscriberStatus.ERASED)
            # a newer request revoked this mail's link; its own mail carries the working one
            and delivery.context.get("nonce") == subscriber.confirm_nonce
        )

    def content(self, delivery: Delivery) -> mail.Content:
        subscriber = delivery.subscriber
        return mail.render(
            "confirm",
            subscriber.locale,
            confirm_url=external_url("public.confirm", token=delivery.context["token"]),
            max_age_days=current_app.config["CONFIRM_MAX_AGE_DAYS"],
        )


SPECS: dict[MailKind, MailSpec] = {MailKind.CONFIRM: ConfirmMail()}

"""The names of the service's states in the reader's language, for pages and printouts."""

from __future__ import annotations

from enum import Enum

from flask_babel import lazy_gettext as _l

from .models import (
    AdminRole,
    ArticleSource,
    BounceKind,
    ConsentChannel,
    ConsentEventType,
    DeliveryStatus,
    DigestTrigger,
    MailKind,
    ReportKind,
    SubscriberStatus,
)

#: Every state a page names, in the reader's language. Keyed by enum class first:
#: members of different StrEnums with the same value ("admin") compare equal.
LABELS: dict[type[Enum], dict[Enum, object]] = {
    SubscriberStatus: {
        SubscriberStatus.PENDING: _l("pending"),
        SubscriberStatus.CONFIRMED: _l("confirmed"),
        SubscriberStatus.WITHDRAWN: _l("withdrawn"),
        SubscriberStatus.SUSPENDED: _l("suspended (bounces)"),
        SubscriberStatus.ERASED: _l("erased"),
    },
    ConsentEventType: {
        ConsentEventType.REQUESTED: _l("requested"),
        ConsentEventType.CONFIRMED: _l("confirmed"),
        ConsentEventType.WITHDRAWN: _l("withdrawn"),
        ConsentEventType.ERASED: _l("erased"),
        ConsentEventType.IMPORTED: _l("imported"),
    },
    ConsentChannel: {
        ConsentChannel.FORM: _l("sign-up form"),
        ConsentChannel.LINK: _l("link in the mail"),
        ConsentChannel.ONE_CLICK: _l("one-click unsubscribe"),
        ConsentChannel.ADMIN: _l("admin"),
        ConsentChannel.IMPORT: _l("import"),
        ConsentChannel.RETENTION: _l("retention period ended"),
        ConsentChannel.COMPLAINT: _l("spam complaint"),
        ConsentChannel.EMBED: _l("sign-up on the publisher's page"),
        ConsentChannel.API: _l("sign-up API"),
    },
    BounceKind: {
        BounceKind.HARD: _l("hard bounce"),
        BounceKind.SOFT: _l("soft bounce"),
        BounceKind.MESSAGE: _l("refused (the message, not the address)"),
        BounceKind.COMPLAINT: _l("spam complaint"),
    },
    ReportKind: {
        ReportKind.HARD: _l("hard bounce"),
        ReportKind.SOFT: _l("soft bounce"),
        ReportKind.MESSAGE: _l("refused (the message, not the address)"),
        ReportKind.COMPLAINT: _l("spam complaint"),
        ReportKind.AUTO_REPLY: _l("automatic reply"),
        ReportKind.UNKNOWN: _l("not readable"),
    },
    DeliveryStatus: {
        DeliveryStatus.QUEUED: _l("queued"),
        DeliveryStatus.SENDING: _l("sending"),
        DeliveryStatus.SENT: _l("sent"),
        DeliveryStatus.RETRYING: _l("retrying"),
        DeliveryStatus.FAILED: _l("failed"),
        DeliveryStatus.CANCELLED: _l("cancelled"),
        DeliveryStatus.HELD: _l("held"),
    },
    MailKind: {
        MailKind.CONFIRM: _l("confirmation request"),
        MailKind.DIGEST: _l("digest"),
        MailKind.DIGEST_TEST: _l("digest test"),
        MailKind.PREFERENCES_LINK: _l("link to the preferences"),
        MailKind.ADMIN_INVITE: _l("admin invitation"),
    },
    DigestTrigger: {
        DigestTrigger.SCHEDULE: _l("schedule"),
        DigestTrigger.COMMAND: _l("command line"),
        DigestTrigger.ADMIN: _l("Send now (admin)"),
    },
    AdminRole: {
        AdminRole.ADMIN: _l("admin (everything)"),
        AdminRole.EDITOR: _l("editor (articles, feeds, digests)"),
    },
    ArticleSource: {
        ArticleSource.CLI: _l("command line"),
        ArticleSource.FEED: _l("feed"),
        ArticleSource.ADMIN: _l("admin"),
    },
}


def label(value: Enum | None) -> object:
    """The translated name of a state; the raw value for one without a label."""
    if value is None:
        return "–"
    return LABELS.get(type(value), {}).get(value, getattr(value, "value", value))

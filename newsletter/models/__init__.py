"""The database models; import them from here."""

from .address_request import AddressRequest, AddressRequestKind
from .admin import AdminRecoveryCode, AdminRole, AdminSession, AdminUser, AuditEvent
from .api_token import ApiScope, ApiToken
from .article import Article, ArticleSource, Feed, KeptOut
from .bounce import BounceEvent, BounceKind, BounceReport, ReportKind
from .consent import ConsentChannel, ConsentEvent, ConsentEventType, ConsentText
from .delivery import OPEN_STATUSES, Delivery, DeliveryStatus, MailKind
from .digest import Digest, DigestTrigger
from .job import JobRun
from .ledger import EvidenceLedgerLine
from .secret import InstanceSecret
from .subscriber import Subscriber, SubscriberStatus
from .suppression import Suppression
from .throttle import AdminLoginAttempt, DoiSend
from .webhook import Webhook, WebhookMessage, WebhookStatus

__all__ = [
    "ApiScope",
    "ApiToken",
    "Webhook",
    "WebhookMessage",
    "WebhookStatus",
    "AddressRequest",
    "AddressRequestKind",
    "OPEN_STATUSES",
    "AdminLoginAttempt",
    "AdminRecoveryCode",
    "AdminRole",
    "AdminSession",
    "AuditEvent",
    "AdminUser",
    "Article",
    "ArticleSource",
    "BounceEvent",
    "BounceKind",
    "BounceReport",
    "ReportKind",
    "Digest",
    "DigestTrigger",
    "Feed",
    "InstanceSecret",
    "KeptOut",
    "Suppression",
    "ConsentChannel",
    "ConsentEvent",
    "ConsentEventType",
    "ConsentText",
    "Delivery",
    "DeliveryStatus",
    "DoiSend",
    "EvidenceLedgerLine",
    "JobRun",
    "MailKind",
    "Subscriber",
    "SubscriberStatus",
]

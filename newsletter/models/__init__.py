"""The database models; import them from here."""

from .admin import AdminSession, AdminUser
from .article import Article, ArticleSource, Feed
from .consent import ConsentChannel, ConsentEvent, ConsentEventType, ConsentText
from .delivery import OPEN_STATUSES, Delivery, DeliveryStatus, MailKind
from .digest import Digest, DigestTrigger
from .job import JobRun
from .secret import InstanceSecret
from .subscriber import Subscriber, SubscriberStatus
from .suppression import Suppression
from .throttle import AdminLoginAttempt, DoiSend

__all__ = [
    "OPEN_STATUSES",
    "AdminLoginAttempt",
    "AdminSession",
    "AdminUser",
    "Article",
    "ArticleSource",
    "Digest",
    "DigestTrigger",
    "Feed",
    "InstanceSecret",
    "Suppression",
    "ConsentChannel",
    "ConsentEvent",
    "ConsentEventType",
    "ConsentText",
    "Delivery",
    "DeliveryStatus",
    "DoiSend",
    "JobRun",
    "MailKind",
    "Subscriber",
    "SubscriberStatus",
]

"""The database models; import them from here."""

from .consent import ConsentChannel, ConsentEvent, ConsentEventType, ConsentText
from .delivery import OPEN_STATUSES, Delivery, DeliveryStatus, MailKind
from .job import JobRun
from .subscriber import Subscriber, SubscriberStatus
from .throttle import DoiSend

__all__ = [
    "OPEN_STATUSES",
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

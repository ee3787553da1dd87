"""Signed tokens for the links in mails, one salt per purpose (COMPLIANCE items 45–49).

Payloads hold a subscriber id and, for revocable purposes, the subscriber's current nonce;
never an address. Tokens are signed with SECRET_KEY and verified against it and every key in
SECRET_KEY_FALLBACKS, so rotating the key keeps old links (above all unsubscribe links) valid.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property, lru_cache

from flask import current_app
from itsdangerous import BadData, SignatureExpired, Signer, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer
from itsdangerous.signer import HMACAlgorithm

from . import clock
from .extensions import db
from .models import AdminUser, Subscriber

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
ADMIN_PASSWORD = "admin-password"

#: How long an invitation's set-password link works.
ADMIN_PASSWORD_MAX_AGE = timedelta(days=3)


class InvalidToken(Exception):
    """The token is tampered with, expired, revoked or refers to nobody."""


class ExpiredToken(InvalidToken):
    """Genuine, but older than its purpose's lifetime."""


class UnknownSubscriber(InvalidToken):
    """Genuine, but the subscriber it names no longer exists (its row was deleted)."""


class RevokedToken(InvalidToken):
    """Genuine and unexpired, but its nonce was replaced (used, superseded or withdrawn)."""

    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__("revoked")
        self.subscriber = subscriber


class _ClockSigner(TimestampSigner):
    """Timestamps from the app's clock, so expiry follows the injectable clock."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _keys() -> tuple[str, ...]:
    config = current_app.config
    return (*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"])


def _timed(salt: str) -> URLSafeTimedSerializer:
    return _timed_for(_keys(), salt)


def _untimed(salt: str) -> URLSafeSerializer:
    return _untimed_for(_keys(), salt)


class _SHA1HMAC(HMACAlgorithm):
    """itsdangerous's default signature (HMAC-SHA1) in one C call: given a digest function
    rather than a name, :func:`hmac.new` falls back to its pure-Python implementation."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


class _Quick(Serializer):
    """Signs a digest's two tokens per reader at a quarter of the cost, with the same tokens.

    Our payloads are a few dozen bytes, which zlib never shortens, so the URL-safe
    serializers' compression attempt is skipped (tokens with a compressed payload still load);
    the signer for the serializer's own salt is made once instead of on every call; and the
    HMAC is computed in C.
    """

    def dump_payload(self, obj) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is not None and salt != self.salt:
            return super().make_signer(salt)
        return self._own_signer

    @cached_property
    def _own_signer(self) -> Signer:
        return super().make_signer()


_QUICK_SIGNING = {"algorithm": _SHA1HMAC()}


class _QuickTimed(_Quick, URLSafeTimedSerializer):
    pass


class _QuickUntimed(_Quick, URLSafeSerializer):
    pass


# Serializers are built once per key list and salt: a digest signs two tokens per reader.
@lru_cache(maxsize=32)
def _timed_for(keys: tuple[str, ...], salt: str) -> URLSafeTimedSerializer:
    return _QuickTimed(list(keys), salt=salt, signer=_ClockSigner, signer_kwargs=_QUICK_SIGNING)


@lru_cache(maxsize=32)
def _untimed_for(keys: tuple[str, ...], salt: str) -> URLSafeSerializer:
    return _QuickUntimed(list(keys), salt=salt, signer_kwargs=_QUICK_SIGNING)


def make_confirm_token(subscriber: Subscriber) -> str:
    return _timed(CONFIRM).dumps([subscriber.id, subscriber.confirm_nonce])


def make_preferences_token(subscriber: Subscriber) -> str:
    return _timed(PREFERENCES).dumps([subscriber.id, subscriber.access_nonce])


def make_unsubscribe_token(subscriber: Subscriber) -> str:
    """A token that never expires and survives re-subscription (SPEC §3)."""
    return _untimed(UNSUBSCRIBE).dumps(subscriber.id)


@dataclass(frozen=True)
class _Revocable:
    salt: str
    max_age_key: str
    nonce_attribute: str

    def load(self, token: str) -> Subscriber:
        max_age = timedelta(days=current_app.config[self.max_age_key]).total_seconds()
        try:
            subscriber_id, nonce = _timed(self.salt).loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise ExpiredToken(str(exc)) from exc
        except (BadData, TypeError, ValueError) as exc:
            raise InvalidToken(str(exc)) from exc
        subscriber = _subscriber(subscriber_id)
        if getattr(subscriber, self.nonce_attribute) != nonce:
            raise RevokedToken(subscriber)
        return subscriber


_CONFIRM = _Revocable(CONFIRM, "CONFIRM_MAX_AGE_DAYS", "confirm_nonce")
_PREFERENCES = _Revocable(PREFERENCES, "PREFERENCES_MAX_AGE_DAYS", "access_nonce")


def load_confirm_token(token: str) -> Subscriber:
    """The subscriber a confirm link is for; :class:`InvalidToken` if it no longer works."""
    return _CONFIRM.load(token)


def load_preferences_token(token: str) -> Subscriber:
    return _PREFERENCES.load(token)


def unsubscribe_token_is_genuine(token: str) -> bool:
    """Whether ``token`` is an unsubscribe token we signed (no database access)."""
    try:
        _untimed(UNSUBSCRIBE).loads(token)
    except BadData:
        return False
    return True


def load_unsubscribe_token(token: str) -> Subscriber:
    try:
        subscriber_id = _untimed(UNSUBSCRIBE).loads(token)
    except BadData as exc:
        raise InvalidToken(str(exc)) from exc
    return _subscriber(subscriber_id)


def _subscriber(subscriber_id: object) -> Subscriber:
    subscriber = db.session.get(Subscriber, subscriber_id) if type(subscriber_id) is int else None
    if subscriber is None:
        raise UnknownSubscriber("unknown subscriber")
    return subscriber


def _password_fingerprint(admin: AdminUser) -> str:
    """Changes with the admin's password hash: a set-password link works until a password is set."""
    return hashlib.sha256(f"{admin.id}:{admin.password_hash}".encode()).hexdigest()[:24]


def make_admin_password_token(admin: AdminUser) -> str:
    """The set-password link of an invitation: expires after ADMIN_PASSWORD_MAX_AGE and works once."""
    return _timed(ADMIN_PASSWORD).dumps([admin.id, _password_fingerprint(admin)])


def load_admin_password_token(token: str) -> AdminUser:
    """The admin a set-password link is for; :class:`InvalidToken` once used, expired or removed."""
    try:
        admin_id, fingerprint = _timed(ADMIN_PASSWORD).loads(
            token, max_age=ADMIN_PASSWORD_MAX_AGE.total_seconds()
        )
    except SignatureExpired as exc:
        raise ExpiredToken(str(exc)) from exc
    except (BadData, TypeError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc
    admin = db.session.get(AdminUser, admin_id) if isinstance(admin_id, int) else None
    if admin is None or not hmac.compare_digest(str(fingerprint), _password_fingerprint(admin)):
        raise InvalidToken("used or removed")
    return admin

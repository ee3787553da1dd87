"""Loading and checking configuration: defaults, instance file, environment, overrides."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
from flask import Flask

from . import publisher
from .crontab import cron_trigger
from .delivery import verp
from .origins import normalise_origin
from .paths import DEFAULT_CONFIG

DEFAULT_SECRET_KEY = "dev-insecure-change-me"

#: Keys whose values must have a given type once the environment has been applied.
#: ``from_prefixed_env`` parses JSON, so ``NEWSLETTER_EMBEDDED_WORKER=True`` arrives as the
#: string "True"; refusing it beats treating every non-empty string as true.
_TYPED_KEYS: dict[str, tuple[type, ...]] = {
    "MAIL_PORT": (int,),
    "MAIL_USE_TLS": (bool,),
    "MAIL_USE_SSL": (bool,),
    "MAIL_TIMEOUT": (int, float),
    "MAIL_CONCURRENCY": (int,),
    "MAIL_RATE_LIMIT": (int, float, type(None)),
    "SEND_LEASE_SECONDS": (int,),
    "SEND_PROCESSES": (int,),
    "SEND_INTERVAL_SECONDS": (int, float),
    "BOUNCE_LIMIT": (int,),
    "SOFT_BOUNCE_LIMIT": (int,),
    "SOFT_BOUNCE_WINDOW_DAYS": (int, float),
    "BOUNCE_ADDRESS": (str, type(None)),
    "BOUNCE_SMTP_LISTEN": (str, type(None)),
    "BOUNCE_MAX_BYTES": (int,),
    "DKIM_DOMAIN": (str, type(None)),
    "DKIM_SELECTOR": (str, type(None)),
    "DKIM_PRIVATE_KEY_FILE": (str, type(None)),
    "FEED_URLS": (list,),
    "EMBED_ORIGINS": (list,),
    "FEED_POLL_MINUTES": (int, float),
    "FEED_TIMEOUT_SECONDS": (int, float),
    "FEED_MAX_BYTES": (int,),
    "FEED_ALLOW_PRIVATE_NETWORKS": (bool,),
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": (bool,),
    "WEBHOOK_TIMEOUT_SECONDS": (int, float),
    "FEED_BACKLOG_DAYS": (int, float),
    "DIGEST_MAX_ARTICLES": (int,),
    "EMBEDDED_WORKER": (bool, type(None)),
    "CONFIRM_MAX_AGE_DAYS": (int, float),
    "UNCONFIRMED_RETENTION_DAYS": (int, float),
    "DOI_MAX_PER_ADDRESS": (int,),
    "PREFERENCES_MAX_AGE_DAYS": (int, float),
    "PREFERENCES_LINK_MAX_PER_ADDRESS": (int,),
    "EVIDENCE_RETENTION_DAYS": (int, float),
    "ADMIN_SESSION_IDLE_MINUTES": (int, float),
    "RATELIMIT_ENABLED": (bool,),
    "PROXY_FIX_X_FOR": (int,),
    "PROXY_FIX_X_PROTO": (int,),
    "SESSION_COOKIE_SECURE": (bool,),
    "SECRET_KEY_FALLBACKS": (list,),
    "CONSENT_TEXT": (dict, type(None)),
    "SITE_NAME": (str,),
    "SITE_ADDRESS": (str,),
    "IMPRINT_URL": (str, type(None)),
    "PRIVACY_URL": (str, type(None)),
    "LOGO_URL": (str, type(None)),
    "BRAND_COLOR": (str, type(None)),
    "METRICS_TOKEN": (str, type(None)),
}

#: Numeric keys (checked by type above) for which zero or less makes no sense.
_POSITIVE_KEYS = (
    "SOFT_BOUNCE_LIMIT", "SOFT_BOUNCE_WINDOW_DAYS", "BOUNCE_MAX_BYTES",
    "FEED_POLL_MINUTES", "FEED_TIMEOUT_SECONDS", "FEED_MAX_BYTES", "ADMIN_SESSION_IDLE_MINUTES",
    "DIGEST_MAX_ARTICLES", "WEBHOOK_TIMEOUT_SECONDS",
)

#: Limits given as text ("10 per 15 minutes") that the service counts itself.
_LIMIT_KEYS = ("RATELIMIT_ADMIN_LOGIN_IP", "RATELIMIT_ADMIN_LOGIN_EMAIL")

_CHOICES: dict[str, tuple[str, ...]] = {
    "MAIL_BACKEND": ("smtp", "file", "memory"),
    "EVIDENCE_IP": ("full", "truncated", "none"),
}


class ConfigError(RuntimeError):
    """The configuration cannot run the service; the message says which key and why."""


@dataclass(frozen=True)
class Limit:
    amount: int
    window: timedelta


def parse_limit(text: object) -> Limit:
    """One limit in Flask-Limiter's notation, such as ``"10 per 15 minutes"``; ValueError else."""
    if not isinstance(text, str):
        raise ValueError("a text such as '10 per 15 minutes' is needed")
    items = limits.parse_many(text)
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError("exactly one limit of at least 1, such as '10 per 15 minutes', is needed")
    return Limit(items[0].amount, timedelta(seconds=items[0].get_expiry()))


def load(app: Flask, overrides: Mapping[str, Any] | type | None) -> None:
    """Fill ``app.config`` in layers: defaults, instance/config.py, environment, overrides."""
    app.config.from_object(_default_config_class())
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("NEWSLETTER")
    if isinstance(overrides, Mapping):
        app.config.from_mapping(overrides)
    elif overrides is not None:
        app.config.from_object(overrides)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{app.instance_path}/newsletter.db"
    if app.config.get("EMBEDDED_WORKER") is None:
        app.config["EMBEDDED_WORKER"] = bool(app.debug)
    app.config["BASE_URL"] = str(app.config["BASE_URL"]).rstrip("/")
    if app.config.get("SESSION_COOKIE_SECURE") is None:  # the admin session must not leak over http
        app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    validate(app)


def validate(app: Flask) -> None:
    """Raise :class:`ConfigError` for a value the service cannot work with."""
    config = app.config
    for key, types in _TYPED_KEYS.items():
        value = config.get(key)
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise ConfigError(
                f"{key} must be {' or '.join(t.__name__ for t in types)}, got {value!r}"
                " (in the environment write JSON: true, 4, [\"…\"])"
            )
    for key in _POSITIVE_KEYS:
        if config[key] <= 0:
            raise ConfigError(f"{key} must be greater than 0, got {config[key]!r}")
    if config["FEED_BACKLOG_DAYS"] < 0:
        raise ConfigError(f"FEED_BACKLOG_DAYS must be 0 or more, got {config['FEED_BACKLOG_DAYS']!r}")
    for key in ("PROXY_FIX_X_FOR", "PROXY_FIX_X_PROTO"):
        if config[key] < 0:
            raise ConfigError(f"{key} must be the number of trusted proxies in front, 0 or more, got {config[key]!r}")
    for key in _LIMIT_KEYS:
        try:
            parse_limit(config[key])
        except ValueError as exc:
            raise ConfigError(f"{key} {config[key]!r} is not usable: {exc}") from exc
    if config["SEND_PROCESSES"] < 0:
        raise ConfigError(f"SEND_PROCESSES must be 0 for one per CPU, or more, got {config['SEND_PROCESSES']!r}")
    _validate_relay(config)
    _validate_bounces(config)
    for problem in publisher.problems(config):
        raise ConfigError(problem)
    for url in config["FEED_URLS"]:
        if not isinstance(url, str) or not url.strip().startswith(("http://", "https://")):
            raise ConfigError(f"FEED_URLS must list http:// or https:// addresses, got {url!r}")
    for origin in config["EMBED_ORIGINS"]:
        if not isinstance(origin, str) or normalise_origin(origin) is None:
            raise ConfigError(
                f"EMBED_ORIGINS must list origins such as https://www.example.de (scheme, host, a port"
                f" where needed; no path), got {origin!r}"
            )
    for key, choices in _CHOICES.items():
        if config.get(key) not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {config.get(key)!r}")
    try:
        ZoneInfo(config["TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"TIMEZONE {config['TIMEZONE']!r} is not a known time zone") from exc
    _validate_schedule(str(config["DIGEST_SCHEDULE"]), config["TIMEZONE"])
    if not str(config["BASE_URL"]).startswith(("http://", "https://")):
        raise ConfigError(f"BASE_URL must start with http:// or https://, got {config['BASE_URL']!r}")
    if config["SECRET_KEY"] in (None, "", DEFAULT_SECRET_KEY) and not (app.debug or app.testing):
        raise ConfigError(
            "SECRET_KEY is the development default; set NEWSLETTER_SECRET_KEY to a long random"
            " value (python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )


def _validate_relay(config) -> None:
    """A password goes to the relay only encrypted, unless the relay is this machine."""
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (TLS from the start) exclude each other; set one")
    loopback = str(config["MAIL_SERVER"]).strip("[]").lower() in ("localhost", "127.0.0.1", "::1")
    if config.get("MAIL_USERNAME") and not (config["MAIL_USE_TLS"] or config["MAIL_USE_SSL"] or loopback):
        raise ConfigError(
            "MAIL_USERNAME is set but the relay connection is not encrypted; set MAIL_USE_TLS or MAIL_USE_SSL"
            " so the password does not cross the network in plain text"
        )


def _validate_bounces(config) -> None:
    if config["BOUNCE_ADDRESS"] and (problem := verp.address_problem(config["BOUNCE_ADDRESS"])):
        raise ConfigError(f"BOUNCE_ADDRESS {config['BOUNCE_ADDRESS']!r} {problem}")
    if config["BOUNCE_SMTP_LISTEN"]:
        if not config["BOUNCE_ADDRESS"]:
            raise ConfigError(
                "BOUNCE_SMTP_LISTEN needs BOUNCE_ADDRESS: only reports to it and its VERP addresses are taken"
            )
        try:
            listen_address(config["BOUNCE_SMTP_LISTEN"])
        except ValueError as exc:
            raise ConfigError(f"BOUNCE_SMTP_LISTEN {config['BOUNCE_SMTP_LISTEN']!r} {exc}") from None


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:2525`` for IPv6) as (host, port); ValueError with the reason."""
    host, colon, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port, such as 127.0.0.1:2525")
    return host, int(port)


def _validate_schedule(line: str, timezone: str) -> None:
    try:
        cron_trigger(line, timezone)
    except ValueError as exc:
        raise ConfigError(f"DIGEST_SCHEDULE {line!r} is not a valid crontab line: {exc}") from exc


def _default_config_class() -> type:
    spec = importlib.util.spec_from_file_location("_newsletter_default_config", DEFAULT_CONFIG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Config

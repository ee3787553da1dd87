"""Absolute links under BASE_URL, for mails built outside any web request."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of ``endpoint`` under BASE_URL (SPEC §6: links absolute under BASE_URL)."""
    return _adapter(current_app._get_current_object(), current_app.config["BASE_URL"]).build(
        endpoint, values, force_external=True
    )


def _adapter(app, base_url: str):
    """A URL builder bound to BASE_URL, made once per app and BASE_URL (a sender builds many)."""
    cache = app.extensions.setdefault("external_url_adapters", {})
    if base_url not in cache:
        base = urlsplit(base_url)
        cache[base_url] = app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return cache[base_url]


#: Stands in for the token while the rest of a token link is built once.
_TOKEN_SLOT = "0nl0token0"


def token_url_builder(endpoint: str) -> Callable[[str], str]:
    """``external_url(endpoint, token=…)`` for many tokens, each at the cost of a string join.

    Tokens are URL-safe already (base64url and dots), so nothing about them needs quoting;
    a sender builds two such links per digest reader.
    """
    before, _, after = external_url(endpoint, token=_TOKEN_SLOT).rpartition(_TOKEN_SLOT)
    return lambda token: f"{before}{token}{after}"

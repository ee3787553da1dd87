"""Which pages may carry the sign-up (SPEC §8): the origins in EMBED_ORIGINS, and what a
request from one of them may tell us.

The browser's ``Origin`` header (the ``Referer``'s origin when a browser sends none) is the
CSRF defence of every sign-up posted from another site: a page elsewhere can make a visitor's
browser post, but cannot make it lie about where the page came from.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import current_app, request

from .origins import normalise_origin, origin_of

#: The longest page address kept as evidence; a longer one is not kept at all.
MAX_SOURCE_URL = 2048


def allowed_origins() -> list[str]:
    """EMBED_ORIGINS, normalised, in the configured order (the settings refuse anything else)."""
    return [origin for origin in map(normalise_origin, current_app.config["EMBED_ORIGINS"]) if origin]


def is_allowed(origin: str | None) -> bool:
    """Whether pages of ``origin`` may carry the sign-up: exact scheme, host (any case), port."""
    return origin is not None and origin in allowed_origins()


def own_origins() -> set[str]:
    """The service's own origin: as this request reached it, and as BASE_URL names it (a proxy
    in front that does not say it took https must not make our own form another site's)."""
    return {origin for origin in (origin_of(request.host_url), origin_of(current_app.config["BASE_URL"])) if origin}


def request_origin() -> str | None:
    """Where the request's page came from: its ``Origin`` header, else its ``Referer``'s origin;
    None when it has neither. A present but unreadable one (``Origin: null`` from a sandboxed
    frame) is returned as given, so it matches nothing."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return normalise_origin(origin) or origin
    referer = request.headers.get("Referer")
    if referer is not None:
        return origin_of(referer) or referer
    return None


def is_cross_site_embedder() -> bool | None:
    """For a request from another origin: True if that origin is allowed, False if not;
    None for a request from our own pages or without any origin (not an embedded one)."""
    origin = request_origin()
    if origin is None or origin in own_origins():
        return None
    return is_allowed(origin)


def kept_source_url(url: str | None) -> str | None:
    """The page the reader was on, as the evidence keeps it: only an http(s) address on an
    allowed origin, without its fragment, at most :data:`MAX_SOURCE_URL` characters."""
    if not url or len(url) > MAX_SOURCE_URL or not is_allowed(origin_of(url)):
        return None
    return urlunsplit(urlsplit(url)._replace(fragment=""))


def is_allowed_redirect(url: str | None) -> bool:
    """Whether the plain form may send the reader on to ``url`` (a page of an allowed origin)."""
    return bool(url) and len(url) <= MAX_SOURCE_URL and is_allowed(origin_of(url))

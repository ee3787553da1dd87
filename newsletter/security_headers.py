"""The headers that protect every response: pages, error pages, static files, admin and public.

One after-request hook (:func:`protect`) sets them all, overwriting whatever a view set itself:

- ``Content-Security-Policy``: :data:`DEFAULT_POLICY`, nothing loaded from elsewhere (but the
  publisher's logo, LOGO_URL, from its https origin), no inline script, and
  ``frame-ancestors 'none'`` so no other site can frame the confirm, unsubscribe or erase forms
  (clickjacking);
- ``X-Frame-Options: DENY`` for browsers without frame-ancestors;
- ``X-Content-Type-Options: nosniff``;
- ``Referrer-Policy: same-origin``: token URLs (/confirm/…, /preferences/…) never reach another
  site. Not ``no-referrer``: over https Flask-WTF accepts a form only with a same-origin Referer;
- ``Strict-Transport-Security`` when BASE_URL is https.

The two ways to differ, both declared, never by setting the headers in a view:

- a blueprint changes directives for all its views: ``blueprint_policy(bp, style_src="…")``;
- a view that other sites may frame (the embed page, SPEC §8) names them per request::

      @bp.get("/embed/subscribe")
      @frame_ancestors(lambda: current_app.config["EMBED_ORIGINS"])
      def embed_subscribe(): ...

  (below the route decorator). Its responses, error pages included, then carry those origins as
  ``frame-ancestors`` and no X-Frame-Options; anything in the list that is not a plain origin
  (``https://host[:port]``) is left out, and an empty list means ``'none'``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, Response, current_app, request

from . import publisher

logger = logging.getLogger(__name__)

#: What every page may load and do. Public pages use only style.css; admin pages widen it for
#: themselves (:mod:`newsletter.admin.blueprint`).
DEFAULT_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}

#: Long enough for browsers to remember https between visits (one year).
HSTS = "max-age=31536000"

_ORIGIN = re.compile(r"https?://(\*\.)?([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(:[0-9]{1,5})?")
_VIEW_ATTRIBUTE = "frame_ancestors"
_BLUEPRINT_ATTRIBUTE = "content_security_policy"


def frame_ancestors(origins: Callable[[], Iterable[str]]):
    """Decorator: the origins ``origins()`` returns (asked per request) may frame this view."""

    def declare(view):
        setattr(view, _VIEW_ATTRIBUTE, origins)
        return view

    return declare


def blueprint_policy(bp: Blueprint, **directives: str) -> None:
    """Change directives for every view of ``bp``: ``style_src="'self' 'unsafe-inline'"``."""
    setattr(bp, _BLUEPRINT_ATTRIBUTE, {name.replace("_", "-"): value for name, value in directives.items()})


def _framing_origins(view) -> str | None:
    """The view's declared frame-ancestors, or None if it declared none."""
    origins = getattr(view, _VIEW_ATTRIBUTE, None)
    if origins is None:
        return None
    try:
        declared = list(origins())
    except Exception:  # a broken declaration must not cost the response its headers
        logger.exception("frame-ancestors of %s could not be read; framing refused", request.endpoint)
        return "'none'"
    allowed = []
    for origin in declared:
        if isinstance(origin, str) and _ORIGIN.fullmatch(origin):
            allowed.append(origin)
        else:
            logger.warning("left %r out of frame-ancestors: not an origin like https://www.example.de", origin)
    return " ".join(allowed) or "'none'"


def _policy() -> dict[str, str]:
    policy = dict(DEFAULT_POLICY)
    logo = publisher.current().logo_origin
    if logo is not None:  # the pages' header shows LOGO_URL (https only, checked at start)
        policy["img-src"] += f" {logo}"
    for name in request.blueprints[::-1]:  # the outermost blueprint first, nested ones refine it
        policy.update(getattr(current_app.blueprints.get(name), _BLUEPRINT_ATTRIBUTE, {}))
    framing = _framing_origins(current_app.view_functions.get(request.endpoint or ""))
    if framing is not None:
        policy["frame-ancestors"] = framing
    return policy


def protect(response: Response) -> Response:
    policy = _policy()
    headers = response.headers
    headers["Content-Security-Policy"] = "; ".join(f"{name} {sources}" for name, sources in policy.items())
    if policy["frame-ancestors"] == "'none'":
        headers["X-Frame-Options"] = "DENY"
    else:
        headers.pop("X-Frame-Options", None)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    if current_app.config["BASE_URL"].startswith("https://"):
        headers["Strict-Transport-Security"] = HSTS
    return response


def init_app(app: Flask) -> None:
    app.after_request(protect)

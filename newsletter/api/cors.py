"""Cross-origin use of a blueprint by the pages of EMBED_ORIGINS (SPEC §8): their requests get
CORS headers (the preflight included), a request from any other site gets 403 and reaches no
view. Requests without an origin (another program, not a browser) and our own pages pass.

Written here rather than with flask-cors so that the same decision as the plain form's
(:func:`newsletter.embedding.is_cross_site_embedder`) answers both the 403 and the headers.
"""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint, abort

from .. import embedding

#: How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
PREFLIGHT_MAX_AGE = 7200


def open_to_embedders(bp: Blueprint, methods: str = "GET, POST") -> None:
    bp.before_request(_refuse_other_sites)
    bp.after_request(lambda response: _allow_embedder(response, methods))


def _refuse_other_sites() -> None:
    if embedding.is_cross_site_embedder() is False:
        abort(403, message="Requests from this origin are not allowed; its pages are not in EMBED_ORIGINS.")


def _allow_embedder(response: Response, methods: str) -> Response:
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin is None or not embedding.is_cross_site_embedder():
        return response
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        headers["Access-Control-Allow-Methods"] = methods
        headers["Access-Control-Allow-Headers"] = "Content-Type"
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response

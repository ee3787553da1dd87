"""The admin API's bearer tokens (SPEC §9): every request of a protected blueprint carries
``Authorization: Bearer <token>``. None, or one never issued or revoked → 401; a read token on
anything but GET → 403. Each token has its own rate limit (RATELIMIT_API_TOKEN), counted
before the token is looked up, so guessing costs as much as using.
"""

from __future__ import annotations

import hashlib

from flask import current_app, g, request
from flask_smorest import Blueprint, abort

from .. import apitokens
from ..extensions import db, limiter
from ..models import ApiToken
from ..requestinfo import client_key

#: The OpenAPI security scheme of the protected operations.
SCHEME = "bearerAuth"
SECURITY = [{SCHEME: []}]
SCHEME_SPEC = {"type": "http", "scheme": "bearer", "description": "A token from `flask create-api-token`"}
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="newsletter"'}


def protect(bp: Blueprint) -> None:
    """Require a token on every request of ``bp`` and count it against the token's limit."""
    limiter.limit(lambda: current_app.config["RATELIMIT_API_TOKEN"], key_func=_limit_key)(bp)
    bp.before_request(_authenticate)


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _limit_key() -> str:
    token = _bearer()
    if token is None:
        return client_key()
    return "api-token:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _authenticate() -> None:
    if request.method == "OPTIONS":
        return
    token = _bearer()
    record = apitokens.find(token) if token else None
    if record is None:
        message = "A valid API token is needed: Authorization: Bearer <token>." if token is None else (
            "This API token is not valid (never issued, or revoked)."
        )
        abort(401, message=message, headers=_CHALLENGE)
    if not apitokens.allows(record, request.method):
        abort(403, message=f"The token {record.name!r} may only read; this needs a write token.")
    if apitokens.touch(record):
        db.session.commit()
    g.api_token = record


def current_token() -> ApiToken:
    return g.api_token


def evidence_detail() -> dict[str, str]:
    """What the consent evidence notes of a change made through the API: the token's name."""
    return {"source": current_token().name}

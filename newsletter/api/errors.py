"""One JSON shape for every error under /api/ (SPEC §8, §9), whatever raised it: a view's
``abort``, flask-smorest's validation (422), routing (404, 405), the rate limit (429), the
size limit (413), the input guard (400) or an unexpected failure (500)::

    {"code": 422, "status": "Unprocessable Entity", "message": "…",
     "errors": {"email": ["Not a valid email address."]}}

``errors`` names the fields (only when there are any), by their names in the request; further
keys may follow where an endpoint documents them (409 of the sign-up: ``consent``).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import jsonify, request
from werkzeug.exceptions import HTTPException

#: Every path of the JSON API starts with this.
PREFIX = "/api/"


class ErrorSchema(ma.Schema):
    """The error body, for the OpenAPI description (flask-smorest documents it for every error)."""

    code = ma.fields.Integer(metadata={"description": "The HTTP status code"})
    status = ma.fields.String(metadata={"description": "The HTTP status name"})
    message = ma.fields.String(metadata={"description": "What went wrong, in English"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Messages per field of the request, when fields were wrong"},
    )


def under_api() -> bool:
    """Whether the current request is one of the JSON API's, matched to a route or not."""
    return request.path.startswith(PREFIX)


def response(error: HTTPException, **extra: Any):
    """The JSON answer for ``error``; ``data`` that flask-smorest's ``abort`` attached (message,
    errors, headers) is used."""
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    fields = _fields(data.get("errors") or data.get("messages"))
    message = data.get("message") or _message(error, fields)
    body: dict[str, Any] = {"code": code, "status": error.name, "message": message}
    if fields:
        body["errors"] = fields
    body.update(extra)
    answer = jsonify(body)
    answer.status_code = code
    answer.headers.update(data.get("headers") or {})
    for name, value in error.get_headers():  # Allow of a 405, Retry-After of a 429
        if name.lower() != "content-type":
            answer.headers[name] = value
    return answer


def _message(error: HTTPException, fields: dict[str, list[str]]) -> str:
    if fields:
        return f"Not valid: {', '.join(fields)}."
    if error.code and error.code >= 500:
        return "Something went wrong on our side. Please try again later."
    return error.description or error.name


def _fields(messages: Any) -> dict[str, list[str]]:
    """webargs names errors by location first (``{"json": {"email": [...]}}``); a client wants
    the fields. A body that is not valid JSON at all is named ``body``."""
    if not isinstance(messages, dict):
        return {}
    fields: dict[str, list[str]] = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            for name, problems in errors.items():
                fields[str(name)] = _texts(problems)
        else:
            fields["body" if location == "json" else str(location)] = _texts(errors)
    return fields


def _texts(problems: Any) -> list[str]:
    if isinstance(problems, dict):  # a nested schema: its own fields
        return [f"{name}: {text}" for name, inner in problems.items() for text in _texts(inner)]
    if isinstance(problems, list | tuple):
        return [text for problem in problems for text in _texts(problem)]
    return [str(problems)]

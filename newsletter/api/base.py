"""The flask-smorest Api of /api/v1 and the blueprints its resources live in.

Resource modules create their blueprint with :func:`blueprint` and are registered in
:func:`newsletter.api.init_app`; the OpenAPI 3 description is generated from their schemas
and served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import flask_smorest

from ..extensions import csrf
from .errors import ErrorSchema

#: The version prefix of every resource.
PREFIX = "/api/v1"

SETTINGS = {
    "API_TITLE": "Newsletter API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
}


class Api(flask_smorest.Api):
    """flask-smorest's Api, without its app-wide error handler: that would answer the HTML
    pages' errors in JSON too. The app's handler (:mod:`newsletter.views.errors`) answers
    requests under /api/ with :func:`newsletter.api.errors.response` instead."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


def blueprint(name: str, import_name: str, description: str) -> flask_smorest.Blueprint:
    """A blueprint of API resources under :data:`PREFIX`. No CSRF token: browsers' cookies play
    no part in the API (the public endpoints check the Origin, the admin ones a bearer token)."""
    bp = flask_smorest.Blueprint(name, import_name, url_prefix=PREFIX, description=description)
    csrf.exempt(bp)
    return bp

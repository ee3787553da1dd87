"""The JSON API under /api/v1 (SPEC §8 and §9), built with flask-smorest: resources declare
their marshmallow schemas, the OpenAPI 3 description is generated from them
(``/api/v1/openapi.json``), and every error has one JSON shape (:mod:`.errors`).

A resource module makes its blueprint with :func:`.base.blueprint` and is registered below.
"""

from __future__ import annotations

from flask import Flask

from . import articles, auth, digests, docs, public, subscribers
from .base import SETTINGS, Api


def init_app(app: Flask) -> Api:
    for key, value in SETTINGS.items():
        app.config.setdefault(key, value)
    api = Api(app)
    api.register_blueprint(public.bp)
    api.spec.components.security_scheme(auth.SCHEME, auth.SCHEME_SPEC)
    for module in (subscribers, articles, digests):
        api.register_blueprint(module.bp)
    docs.init_app(app, api)
    app.extensions["newsletter_api"] = api
    return api

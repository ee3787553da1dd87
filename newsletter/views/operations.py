"""What operators and their monitoring ask the service (SPEC §11): ``/healthz``, ``/metrics``."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from .. import clock, mailfigures
from ..extensions import db

logger = logging.getLogger(__name__)

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
def healthz():
    """200 while the database answers, with the age of the oldest due mail; 503 when it does not."""
    try:
        figures = mailfigures.mail_figures(mailfigures.WAITING)
    except SQLAlchemyError as exc:
        db.session.rollback()
        logger.warning("health check: the database does not answer (%s)", type(exc).__name__)
        return _no_store(jsonify(status="unavailable", database="unreachable"), 503)
    return _no_store(
        jsonify(
            status="ok",
            database="ok",
            oldest_due_mail_age_seconds=round(figures.oldest_due_age(clock.now()), 3),
            queued_mails=figures.count(*mailfigures.WAITING),
        ),
        200,
    )


@bp.get("/metrics")
def metrics_page():
    """The figures for Prometheus, to a scraper with METRICS_TOKEN only (404 when none is set)."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        abort(404)
    if not _bearer_matches(token):
        response = _no_store(jsonify(error="a valid bearer token is required"), 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    from .. import metrics  # here, not above: prometheus-client costs each process 20 ms to import

    try:
        body = metrics.exposition()
    except SQLAlchemyError as exc:
        db.session.rollback()
        logger.warning("metrics: the database does not answer (%s)", type(exc).__name__)
        return _no_store(jsonify(error="the database does not answer"), 503)
    return _no_store(Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE), 200)


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _no_store(response: Response, status: int) -> Response:
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response

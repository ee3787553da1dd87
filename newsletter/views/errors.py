"""App-wide error pages: every failure a visitor can cause gets a clear 4xx page."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..api import errors as api_errors
from ..extensions import db
from ..tokens import ExpiredToken, InvalidToken, RevokedToken

logger = logging.getLogger(__name__)

_MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Please go back and try again.")),
    403: (_l("Not allowed here"), _l("This form cannot be sent from the page you were on.")),
    404: (_l("Page not found"), _l("There is no page at this address.")),
    405: (_l("Not allowed"), _l("This page cannot be used this way.")),
    413: (_l("Too large"), _l("What you sent is too large.")),
    429: (_l("Too many requests"), _l("Please wait a moment before trying again.")),
    500: (_l("Something went wrong"), _l("Please try again later.")),
}


def _page(code: int, title=None, message=None):
    default_title, default_message = _MESSAGES.get(code, _MESSAGES[400])
    page = render_template(
        "errors/error.html", code=code, title=title or default_title, message=message or default_message
    )
    return page, code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return _page(
            400,
            _l("Form expired"),
            _l("The form was not sent from this site or has expired. Please reload the page and try again."),
        )

    @app.errorhandler(InvalidToken)
    def invalid_token(error: InvalidToken):
        code = 410 if isinstance(error, ExpiredToken | RevokedToken) else 404
        return render_template("public/token_invalid.html", expired=isinstance(error, ExpiredToken)), code

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, InternalServerError):
            return internal_error(error)
        if api_errors.under_api():
            return api_errors.response(error)
        return _page(error.code or 400)

    @app.errorhandler(Exception)
    def internal_error(error):
        db.session.rollback()
        logger.exception("unhandled error", exc_info=getattr(error, "original_exception", error))
        try:
            if api_errors.under_api():
                return api_errors.response(InternalServerError())
            return _page(500)
        except Exception:  # the error page itself failed: plain text rather than nothing
            logger.exception("error page failed")
            return "500 Internal Server Error", 500, {"Content-Type": "text/plain; charset=utf-8"}

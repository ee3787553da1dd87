"""The admin area's blueprint: every page never cached, never framed, nothing foreign loaded,
and a missing record shown inside the admin layout. Who may see the pages is decided in
:mod:`.auth`."""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _

from . import formatting

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Admin pages load nothing from elsewhere; the digest preview (a sandboxed srcdoc frame,
#: which inherits this policy) needs inline styles and may show images of the articles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; frame-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


@bp.after_request
def protect(response: Response) -> Response:
    """Admin pages hold personal data: never cached, never framed, nothing foreign loaded."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.errorhandler(404)
def not_found(_error):
    """A missing subscriber, article or digest: say so inside the admin layout."""
    title, message = _("Not found"), _("There is nothing at this address (any more).")
    return render_template("admin/error.html", title=title, message=message), 404


formatting.register(bp)

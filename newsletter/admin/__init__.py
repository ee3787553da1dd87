"""The admin area at /admin (SPEC §4): sign-in, dashboard, subscribers, articles, digests.

Every page needs a signed-in admin; the one exception is the login page. The guard here runs
before each admin view, so a new view cannot forget it. Views are thin: they parse the
request, call a service or a query of :mod:`.queries`, commit once, and render.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from .. import admins
from . import formatting

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Endpoints reachable without signing in.
OPEN_ENDPOINTS = frozenset({"admin.login"})
#: Session key holding :func:`newsletter.admins.session_key` of the signed-in admin.
SESSION_KEY = "admin_key"

#: Admin pages load nothing from elsewhere; the digest preview (a sandboxed srcdoc frame,
#: which inherits this policy) needs inline styles and may show images of the articles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; frame-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


def signed_in() -> bool:
    """Whether the request comes from an admin's session that is still valid.

    A session started before the admin's password was last set is not.
    """
    return current_user.is_authenticated and session.get(SESSION_KEY) == admins.session_key(current_user)


@bp.before_request
def require_admin():
    """Send anyone not signed in (or signed in with a since-changed password) to the login."""
    if request.endpoint in OPEN_ENDPOINTS or signed_in():
        return None
    if current_user.is_authenticated:  # the password was reset: this session ends
        logout_user()
        session.clear()
    if request.method not in ("GET", "HEAD"):  # a form sent from a page of an ended session
        return redirect(url_for("admin.login"))
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("admin.login", next=target))


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

from . import articles, auth, dashboard, digests, subscribers  # noqa: E402,F401  (routes on bp)

"""The admin area's blueprint: every page never cached, never framed, nothing foreign loaded
(the headers every page gets, :mod:`newsletter.security_headers`, with a wider style and image
policy), and a missing record shown inside the admin layout. Who may see the pages is decided
in :mod:`.auth`."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template
from flask_babel import gettext as _
from flask_login import current_user

from ..security_headers import blueprint_policy
from . import formatting, roles

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: The digest preview (a sandboxed srcdoc frame, which inherits the policy) needs inline
#: styles and may show images of the articles; the evidence print page has its own <style>.
blueprint_policy(bp, style_src="'self' 'unsafe-inline'", img_src="'self' data: https: http:", frame_src="'self'")


@bp.after_request
def protect(response: Response) -> Response:
    """Admin pages hold personal data: never cached (never framed: :mod:`newsletter.security_headers`)."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(404)
def not_found(_error):
    """A missing subscriber, article or digest: say so inside the admin layout."""
    title, message = _("Not found"), _("There is nothing at this address (any more).")
    return render_template("admin/error.html", title=title, message=message), 404


formatting.register(bp)


@bp.context_processor
def page_access():
    """``may_open(endpoint)``: whether the signed-in admin's role opens that admin page (the
    navigation shows only those)."""

    def may_open(endpoint: str) -> bool:
        declared = roles.declared(current_app.view_functions[endpoint])
        return current_user.is_authenticated and roles.may(current_user, declared)

    return {"may_open": may_open}

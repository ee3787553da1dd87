"""Signing in and out of the admin area, and the guard in front of every other admin page.

Sign-ins are throttled by :mod:`newsletter.loginthrottle` (per client, and per address from
one client; a client that has not been failing always gets in with the right password). An
admin session lives on the server (:mod:`newsletter.adminsessions`): the cookie carries only its
random id, so signing out, a new password, idleness and age end it for every copy of the cookie.
The answer to a failed sign-in is the same whether or not the address belongs to an admin.

With two-factor sign-in on (:mod:`newsletter.two_factor`), the right password leads to a
second step that asks for a code (:func:`login_code`); only then does the session start. An
invited admin chooses a password through the invitation's link (:func:`set_password`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from .. import admins, adminsessions, audit, clock, loginthrottle, tokens, two_factor
from ..extensions import db, login_manager
from ..models import AdminRole, AdminUser
from ..requestinfo import client_ip
from . import roles
from .account_forms import CodeForm, SetPasswordForm
from .blueprint import bp
from .forms import ConfirmForm, LoginForm
from .roles import OPEN, allow

#: Session key holding the random id of the admin's server-side session.
SESSION_ID = "admin_session"
#: Session keys of a sign-in waiting for its second factor: the admin's id, and since when.
PENDING_ID = "two_factor_admin"
PENDING_SINCE = "two_factor_since"
#: How long the code may be entered after the password.
PENDING_SECONDS = 300


def forbidden():
    """The page for a signed-in admin whose role does not open the page asked for."""
    title, message = _("Not allowed"), _("Your role does not open this page. An admin of this service can change it.")
    return render_template("admin/error.html", title=title, message=message), 403


def signed_in() -> bool:
    """Whether the request comes from an admin session that is still valid on the server."""
    return current_user.is_authenticated


@bp.before_request
def require_admin():
    """Send anyone without a valid session to the login; note the use of a valid one; refuse
    a page the admin's role does not open (:mod:`.roles`; a page that declared nothing opens
    to nobody)."""
    role = roles.of_request()
    if role == roles.OPEN:
        return None
    if signed_in():
        if adminsessions.touch(g.admin_session):
            db.session.commit()
        if not roles.may(current_user, role):
            return forbidden()
        return None
    if SESSION_ID in session:  # an ended session: the cookie forgets it
        logout_user()
        session.clear()
    if request.method not in ("GET", "HEAD"):  # a form sent from a page of an ended session
        return redirect(url_for("admin.login"))
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("admin.login", next=target))


@login_manager.user_loader
def load_admin(user_id: str) -> AdminUser | None:
    """Flask-Login's user loader: the admin of the request's server-side session, or None once
    that session has ended (signed out, new password, idle, too old)."""
    record = adminsessions.find(session.get(SESSION_ID))
    if record is None or str(record.admin_id) != user_id:
        return None
    g.admin_session = record
    return db.session.get(AdminUser, record.admin_id)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host, no tricks), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # unreadable (a bracket left open): not a path of ours
        return None
    if parts.scheme or parts.netloc:
        return None
    return target


def _too_many(form: LoginForm | CodeForm, next_page: str | None, template: str = "admin/login.html"):
    """The login page (or its code step) again, saying to wait (no hint which limit held it
    back or until when)."""
    message = _("Too many failed sign-ins. Please wait a few minutes before trying again.")
    return render_template(template, form=form, error=message, next=next_page), 429


@bp.route("/login", methods=["GET", "POST"])
@allow(OPEN)
def login():
    next_page = safe_next(request.args.get("next"))
    if signed_in():
        return redirect(next_page or url_for("admin.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        return render_template("admin/login.html", form=form, next=next_page)
    if not form.validate():
        return render_template("admin/login.html", form=form, next=next_page), 422
    email = (form.email.data or "").strip().casefold()
    attempt = loginthrottle.admit(email, client_ip())
    db.session.commit()  # counted before the password is checked, so parallel guesses see it
    if attempt is None:
        return _too_many(form, next_page)
    admin = admins.authenticate(email, form.password.data or "")
    if admin is None:
        loginthrottle.failed(attempt)
        db.session.commit()
        error = _("The email address or the password is wrong.")
        return render_template("admin/login.html", form=form, error=error, next=next_page), 401
    loginthrottle.succeeded(attempt)
    session.clear()  # a fresh session: nothing from before the sign-in carries over
    if admin.totp_secret is not None:
        db.session.commit()
        session[PENDING_ID] = admin.id
        session[PENDING_SINCE] = int(clock.now().timestamp())
        return redirect(url_for("admin.login_code", next=next_page))
    return _signed_in(admin, next_page)


def _signed_in(admin: AdminUser, next_page: str | None):
    """Start the admin's session (password and, where on, the second factor checked)."""
    session.clear()
    login_user(admin)
    session[SESSION_ID] = adminsessions.start(admin)
    db.session.commit()
    return redirect(next_page or url_for("admin.dashboard"))


def _pending_admin() -> AdminUser | None:
    """The admin whose password was right and whose code is asked for, while that is recent."""
    admin_id, since = session.get(PENDING_ID), session.get(PENDING_SINCE)
    if not isinstance(admin_id, int) or not isinstance(since, int):
        return None
    if clock.now().timestamp() - since > PENDING_SECONDS:
        return None
    admin = db.session.get(AdminUser, admin_id)
    return admin if admin is not None and admin.totp_secret is not None else None


@bp.route("/login/code", methods=["GET", "POST"])
@allow(OPEN)
def login_code():
    """The second step of a sign-in with two-factor sign-in on: a code of the authenticator app
    or a recovery code. Wrong codes count in the login throttle like wrong passwords."""
    next_page = safe_next(request.args.get("next"))
    admin = _pending_admin()
    if admin is None:
        session.pop(PENDING_ID, None)
        flash(_("Please sign in again."), "info")
        return redirect(url_for("admin.login", next=next_page))
    form = CodeForm()
    if request.method == "GET":
        return render_template("admin/login_code.html", form=form, next=next_page)
    if not form.validate():
        return render_template("admin/login_code.html", form=form, next=next_page), 422
    attempt = loginthrottle.admit(admin.email, client_ip())
    db.session.commit()
    if attempt is None:
        return _too_many(form, next_page, "admin/login_code.html")
    if not two_factor.verify(admin, form.code.data or ""):
        loginthrottle.failed(attempt)
        db.session.commit()
        error = _("This code is wrong or was used already.")
        return render_template("admin/login_code.html", form=form, error=error, next=next_page), 401
    loginthrottle.succeeded(attempt)
    return _signed_in(admin, next_page)


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@allow(OPEN)
def set_password(token: str):
    """The link of an invitation: the invited admin chooses a password (the link works once)."""
    try:
        admin = tokens.load_admin_password_token(token)
    except tokens.ExpiredToken:
        return _link_not_working(_("This link has expired. Ask an admin of this service to invite you again."))
    except tokens.InvalidToken:
        return _link_not_working(_("This link does not work (any more): it was used already or is incomplete."))
    form = SetPasswordForm()
    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 422
        return render_template("admin/set_password.html", form=form, admin=admin), status
    try:
        admins.set_password(admin, form.password.data)
    except admins.WeakPassword:
        form.password.errors.append(
            _(
                "Please choose another password: at least %(length)s characters, not your address, not a common one.",
                length=admins.MIN_PASSWORD_LENGTH,
            )
        )
        return render_template("admin/set_password.html", form=form, admin=admin), 422
    audit.record(admin, "admin.password-set", f"admin {admin.id}")
    db.session.commit()
    flash(_("Your password is set. Please sign in."), "success")
    return redirect(url_for("admin.login"))


def _link_not_working(message: str):
    return render_template("admin/error.html", title=_("Link not working"), message=message), 410


@bp.post("/logout")
@allow(AdminRole.EDITOR)
def logout():
    form = ConfirmForm()
    if not form.validate():
        return redirect(url_for("admin.dashboard"))
    adminsessions.end(session.get(SESSION_ID))
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("admin.login"))

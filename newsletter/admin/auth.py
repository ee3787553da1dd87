"""Signing in and out of the admin area, and the guard in front of every other admin page.

Sign-ins are throttled by :mod:`newsletter.loginthrottle` (per client, and per address from
one client; a client that has not been failing always gets in with the right password). An
admin session lives on the server (:mod:`newsletter.adminsessions`): the cookie carries only its
random id, so signing out, a new password, idleness and age end it for every copy of the cookie.
The answer to a failed sign-in is the same whether or not the address belongs to an admin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from .. import admins, adminsessions, loginthrottle
from ..extensions import db, login_manager
from ..models import AdminUser
from ..requestinfo import client_ip
from .blueprint import bp
from .forms import ConfirmForm, LoginForm

#: Endpoints reachable without signing in.
OPEN_ENDPOINTS = frozenset({"admin.login"})
#: Session key holding the random id of the admin's server-side session.
SESSION_ID = "admin_session"


def signed_in() -> bool:
    """Whether the request comes from an admin session that is still valid on the server."""
    return current_user.is_authenticated


@bp.before_request
def require_admin():
    """Send anyone without a valid session to the login; note the use of a valid one."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if signed_in():
        if adminsessions.touch(g.admin_session):
            db.session.commit()
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


def _too_many(form: LoginForm, next_page: str | None):
    """The login page again, saying to wait (no hint which limit held it back or until when)."""
    message = _("Too many failed sign-ins. Please wait a few minutes before trying again.")
    return render_template("admin/login.html", form=form, error=message, next=next_page), 429


@bp.route("/login", methods=["GET", "POST"])
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
    ip = client_ip()
    if loginthrottle.refused(email, ip):
        return _too_many(form, next_page)
    attempt = loginthrottle.begin(email, ip)
    db.session.commit()  # counted before the password is checked, so parallel guesses see it
    if loginthrottle.refused(email, ip, attempt):
        loginthrottle.withdraw(attempt)
        db.session.commit()
        return _too_many(form, next_page)
    admin = admins.authenticate(email, form.password.data or "")
    if admin is None:
        loginthrottle.failed(attempt)
        db.session.commit()
        error = _("The email address or the password is wrong.")
        return render_template("admin/login.html", form=form, error=error, next=next_page), 401
    loginthrottle.succeeded(attempt)
    session.clear()  # a fresh session: nothing from before the sign-in carries over
    login_user(admin)
    session[SESSION_ID] = adminsessions.start(admin)
    db.session.commit()
    return redirect(next_page or url_for("admin.dashboard"))


@bp.post("/logout")
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

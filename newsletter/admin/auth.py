"""Signing in and out of the admin area, and the guard in front of every other admin page.

Failed sign-ins are counted per client IP and per submitted address (Flask-Limiter, only
failures are deducted); past either limit the login answers 429 until its window has passed.
The answer to a failed sign-in is the same whether or not the address belongs to an admin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_user, logout_user

from .. import admins
from ..extensions import db, limiter, login_manager
from ..models import AdminUser
from ..requestinfo import client_ip
from .blueprint import bp
from .forms import ConfirmForm, LoginForm

#: Endpoints reachable without signing in.
OPEN_ENDPOINTS = frozenset({"admin.login"})
#: Session key holding :func:`newsletter.admins.session_key` of the signed-in admin.
SESSION_KEY = "admin_key"


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


@login_manager.user_loader
def load_admin(user_id: str) -> AdminUser | None:
    """Flask-Login's user loader: the signed-in admin, or None for a stale session."""
    if not user_id.isdigit():
        return None
    return db.session.get(AdminUser, int(user_id))


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host, no tricks), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _ip_key() -> str:
    return f"admin-login-ip:{client_ip() or 'unknown'}"


def _email_key() -> str:
    email = (request.form.get("email") or "").strip().casefold()[:254]
    return f"admin-login-email:{email}"


def _ip_limit() -> str:
    return current_app.config["RATELIMIT_ADMIN_LOGIN_IP"]


def _email_limit() -> str:
    return current_app.config["RATELIMIT_ADMIN_LOGIN_EMAIL"]


def _failed(_response) -> bool:
    """Deduct from the limits only for a wrong email/password pair."""
    return bool(g.get("admin_login_failed"))


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(_error: RateLimitExceeded):
    """The login page again, saying to wait (no hint which limit fired or when it ends)."""
    message = _("Too many failed sign-ins. Please wait a few minutes before trying again.")
    next_page = safe_next(request.args.get("next"))
    return render_template("admin/login.html", form=LoginForm(), error=message, next=next_page), 429


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_ip_limit, key_func=_ip_key, methods=["POST"], deduct_when=_failed)
@limiter.limit(_email_limit, key_func=_email_key, methods=["POST"], deduct_when=_failed)
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
    admin = admins.authenticate(email, form.password.data or "")
    if admin is None:
        g.admin_login_failed = True
        db.session.rollback()
        error = _("The email address or the password is wrong.")
        return render_template("admin/login.html", form=form, error=error, next=next_page), 401
    session.clear()  # a fresh session: nothing from before the sign-in carries over
    login_user(admin)
    session[SESSION_KEY] = admins.session_key(admin)
    db.session.commit()
    return redirect(next_page or url_for("admin.dashboard"))


@bp.post("/logout")
def logout():
    form = ConfirmForm()
    if not form.validate():
        return redirect(url_for("admin.dashboard"))
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("admin.login"))

"""One's own account: two-factor sign-in on and off, new recovery codes.

Turning it on takes two steps: the page shows a new secret as a QR code (kept in the signed
session until confirmed), and a code of the authenticator proves it was scanned. The recovery
codes are shown once, right then.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import two_factor
from ..extensions import db
from ..models import AdminRole
from .account_forms import CodeForm
from .audited import note
from .blueprint import bp
from .roles import allow

#: Session key of the secret shown for scanning, until a code confirms it.
NEW_SECRET = "two_factor_new_secret"


@bp.get("/account")
@allow(AdminRole.EDITOR)
def account():
    admin = current_user
    return render_template(
        "admin/account.html",
        recovery_left=two_factor.remaining_recovery_codes(admin) if admin.totp_secret else 0,
        form=CodeForm(),
    )


@bp.route("/account/two-factor", methods=["GET", "POST"])
@allow(AdminRole.EDITOR)
def two_factor_on():
    admin = current_user
    if admin.totp_secret is not None:
        return redirect(url_for("admin.account"))
    form = CodeForm()
    if request.method == "GET" or NEW_SECRET not in session:
        session[NEW_SECRET] = two_factor.new_secret()
        return _render_setup(form)
    if not form.validate():
        return _render_setup(form, 422)
    codes = two_factor.enable(admin, session[NEW_SECRET], form.code.data)
    if codes is None:
        form.code.errors.append(_("This code is wrong. Enter the code the app shows now."))
        return _render_setup(form, 422)
    note("admin.two-factor-on", f"admin {admin.id}")
    db.session.commit()
    session.pop(NEW_SECRET, None)
    return render_template("admin/recovery_codes.html", codes=codes)


def _render_setup(form: CodeForm, status: int = 200):
    secret = session[NEW_SECRET]
    uri = two_factor.provisioning_uri(secret, current_user.email, current_app.config["SITE_NAME"])
    return render_template("admin/two_factor_on.html", form=form, qr=two_factor.qr_svg(uri), secret=secret), status


@bp.post("/account/two-factor/off")
@allow(AdminRole.EDITOR)
def two_factor_off():
    """Turn it off; a current code (or a recovery code) is asked for, so an unattended
    browser cannot."""
    if not _code_accepted():
        return redirect(url_for("admin.account"))
    two_factor.disable(current_user)
    note("admin.two-factor-off", f"admin {current_user.id}")
    db.session.commit()
    flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("admin.account"))


@bp.post("/account/recovery-codes")
@allow(AdminRole.EDITOR)
def recovery_codes_new():
    """New recovery codes (the old ones stop working), again against a current code."""
    if not _code_accepted():
        return redirect(url_for("admin.account"))
    codes = two_factor.new_recovery_codes(current_user)
    note("admin.recovery-codes", f"admin {current_user.id}")
    db.session.commit()
    return render_template("admin/recovery_codes.html", codes=codes)


def _code_accepted() -> bool:
    """Whether two-factor sign-in is on and the form carries a code of it (said if not)."""
    form = CodeForm()
    admin = current_user
    if admin.totp_secret is not None and form.validate() and two_factor.verify(admin, form.code.data or ""):
        return True
    flash(_("This code is wrong or was used already."), "error")
    return False

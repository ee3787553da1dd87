"""The team (admins only): who may use the admin, invitations, roles, removal.

The service never ends up without an admin who can sign in (:class:`admins.LastAdmin`).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from .. import admins, two_factor
from ..extensions import db
from ..labels import label
from ..models import AdminRole, AdminUser
from .account_forms import InviteForm, RoleForm
from .audited import note
from .blueprint import bp
from .forms import ConfirmForm
from .roles import allow


def _render_team(invite_form: InviteForm | None = None, error: str | None = None, status: int = 200):
    team = admins.team()
    return (
        render_template(
            "admin/team/list.html",
            team=team,
            invited={admin.id for admin in team if admins.invited(admin)},
            recovery_left={admin.id: two_factor.remaining_recovery_codes(admin) for admin in team if admin.totp_secret},
            invite_form=invite_form or InviteForm(),
            role_form=RoleForm(),
            error=error,
        ),
        status,
    )


@bp.get("/admins")
@allow(AdminRole.ADMIN)
def team_list():
    return _render_team()


@bp.post("/admins/invite")
@allow(AdminRole.ADMIN)
def team_invite():
    """Invite someone by mail; they choose their password through the link."""
    form = InviteForm()
    if not form.validate():
        return _render_team(form, status=422)
    role = AdminRole(form.role.data)
    try:
        invited = admins.invite(form.email.data, role, str(get_locale()))
    except admins.AlreadyAdmin:
        form.email.errors.append(_("This address belongs to an admin already."))
        return _render_team(form, status=409)
    note("admin.invite", f"admin {invited.id}", f"{invited.email} as {role.value}")
    db.session.commit()
    flash(_("The invitation to %(email)s is on its way.", email=invited.email), "success")
    return redirect(url_for("admin.team_list"))


@bp.post("/admins/<int:admin_id>/role")
@allow(AdminRole.ADMIN)
def team_role(admin_id: int):
    admin = db.get_or_404(AdminUser, admin_id)
    form = RoleForm()
    if not form.validate():
        return _render_team(error=_("Please choose a role."), status=422)
    before, role = admin.role, AdminRole(form.role.data)
    try:
        changed = admins.change_role(admin, role)
    except admins.LastAdmin:
        db.session.rollback()
        return _render_team(error=_last_admin_message(), status=409)
    if changed:
        note("admin.role", f"admin {admin.id}", f"{admin.email}: {before.value} -> {role.value}")
        db.session.commit()
        flash(_("%(email)s is now: %(role)s.", email=admin.email, role=label(role)), "success")
    return redirect(url_for("admin.team_list"))


@bp.route("/admins/<int:admin_id>/remove", methods=["GET", "POST"])
@allow(AdminRole.ADMIN)
def team_remove(admin_id: int):
    """Remove an admin (their sessions end at once), after a confirmation."""
    admin = db.get_or_404(AdminUser, admin_id)
    form = ConfirmForm()
    if request.method == "GET" or not form.validate():
        return render_template("admin/team/remove.html", admin=admin, form=form)
    email, own = admin.email, admin.id == current_user.id
    try:
        admins.remove(admin)
    except admins.LastAdmin:
        db.session.rollback()
        return _render_team(error=_last_admin_message(), status=409)
    note("admin.remove", f"admin {admin_id}", email)
    db.session.commit()
    if own:
        return redirect(url_for("admin.login"))
    flash(_("%(email)s can no longer use the admin.", email=email), "success")
    return redirect(url_for("admin.team_list"))


def _last_admin_message() -> str:
    return _("The service needs at least one admin who can sign in: make someone else an admin first.")

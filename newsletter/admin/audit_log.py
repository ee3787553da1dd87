"""The audit log page (admins only): who changed what and when, filterable by admin, action
and date, newest first."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, render_template, request
from flask_babel import lazy_gettext as _l

from .. import audit
from ..inputs import int_arg
from ..models import AdminRole
from .account_forms import AuditFilterForm
from .blueprint import bp
from .roles import allow

#: What each recorded action means, in the reader's language.
ACTION_LABELS = {
    "admin.invite": _l("invited an admin"),
    "admin.role": _l("changed a role"),
    "admin.remove": _l("removed an admin"),
    "admin.password-set": _l("chose a password (invitation)"),
    "admin.two-factor-on": _l("turned two-factor sign-in on"),
    "admin.two-factor-off": _l("turned two-factor sign-in off"),
    "admin.recovery-codes": _l("made new recovery codes"),
    "article.create": _l("added an article"),
    "article.edit": _l("edited an article"),
    "article.keep-out": _l("kept an article out of digests"),
    "article.let-in": _l("let an article into the next digest"),
    "article.delete": _l("deleted an article"),
    "feed.add": _l("added a feed"),
    "feed.poll": _l("asked for a feed to be polled"),
    "feed.remove": _l("removed a feed"),
    "digest.send-now": _l("Send now"),
    "digest.test-send": _l("sent a test digest"),
    "digest.resume": _l("resumed a stopped digest"),
    "subscriber.withdraw": _l("withdrew consent on a subscriber's behalf"),
    "api-token.create": _l("created an API token"),
    "api-token.revoke": _l("revoked an API token"),
    "webhook.add": _l("added a webhook"),
    "webhook.test": _l("sent a test event to a webhook"),
    "webhook.enable": _l("switched a webhook on again"),
    "webhook.remove": _l("removed a webhook"),
}


@bp.get("/audit")
@allow(AdminRole.ADMIN)
def audit_list():
    form = AuditFilterForm(request.args, admins_named=audit.admins(), actions=audit.actions())
    if not form.validate():
        return _render(form, [], None, 400)
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    chosen = audit.Filter(
        admin_email=form.admin.data or None,
        action=form.action.data or None,
        since=_start_of(form.since.data, zone),
        until=_start_of(form.until.data + timedelta(days=1), zone) if form.until.data else None,
    )
    rows = audit.events(chosen, before=int_arg("before"))
    older = rows[audit.PAGE_SIZE - 1].id if len(rows) > audit.PAGE_SIZE else None
    return _render(form, rows[: audit.PAGE_SIZE], older)


def _start_of(day, zone: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=zone) if day else None


def _render(form: AuditFilterForm, rows: list, older: int | None, status: int = 200):
    return render_template(
        "admin/audit.html", form=form, rows=rows, older=older, action_labels=ACTION_LABELS
    ), status

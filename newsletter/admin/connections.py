"""/admin/connections (SPEC §9, issue 18): the admin API's tokens (create, see when each was
last used, revoke) and the webhooks (add, remove, send a test, switch a disabled one on again,
see the last deliveries). A new token and a new webhook's secret are shown once, on the page
that answers the POST, never stored in a cookie or a URL."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from .. import apitokens
from ..extensions import db
from ..models import AdminRole, ApiScope, Webhook
from ..webhooks import endpoints, events
from .audited import note
from .blueprint import bp
from .forms import ApiTokenForm, ConfirmForm, WebhookForm
from .roles import allow


def _page(token_form=None, webhook_form=None, shown=None, status: int = 200):
    return (
        render_template(
            "admin/connections.html",
            tokens=apitokens.listed(),
            webhooks=endpoints.listed(),
            token_form=token_form or ApiTokenForm(),
            webhook_form=webhook_form or WebhookForm(),
            button=ConfirmForm(),
            shown=shown,
        ),
        status,
    )


@bp.get("/connections")
@allow(AdminRole.ADMIN)
def connections():
    return _page()


@bp.post("/connections/tokens")
@allow(AdminRole.ADMIN)
def token_create():
    form = ApiTokenForm()
    if not form.validate():
        return _page(token_form=form, status=422)
    try:
        token = apitokens.create(form.name.data, ApiScope(form.scope.data))
    except apitokens.TokenNameTaken:
        form.name.errors.append(_("A token of this name exists already."))
        return _page(token_form=form, status=422)
    except ValueError:
        form.name.errors.append(_("The name must be one line of printable characters."))
        return _page(token_form=form, status=422)
    note("api-token.create", f"api token {form.name.data}", form.scope.data)
    db.session.commit()
    return _page(shown={"what": "token", "name": form.name.data, "value": token})


@bp.post("/connections/tokens/<int:token_id>/revoke")
@allow(AdminRole.ADMIN)
def token_revoke(token_id: int):
    if not ConfirmForm().validate():
        abort(400)
    if apitokens.revoke_id(token_id):
        note("api-token.revoke", f"api token {token_id}")
        db.session.commit()
        flash(_("The token is revoked: requests carrying it are refused from now on."), "success")
    return redirect(url_for("admin.connections"))


@bp.post("/connections/webhooks")
@allow(AdminRole.ADMIN)
def webhook_add():
    form = WebhookForm()
    if not form.validate():
        return _page(webhook_form=form, status=422)
    try:
        webhook = endpoints.add(form.url.data, form.events.data)
    except endpoints.WebhookError as exc:
        form.url.errors.append(_("This URL cannot be used: %(reason)s", reason=str(exc)))
        return _page(webhook_form=form, status=422)
    note("webhook.add", f"webhook {webhook.id}", f"{webhook.url} {' '.join(webhook.events)}")
    db.session.commit()
    return _page(shown={"what": "webhook", "name": webhook.url, "value": webhook.secret})


@bp.get("/connections/webhooks/<int:webhook_id>")
@allow(AdminRole.ADMIN)
def webhook_detail(webhook_id: int):
    webhook = db.get_or_404(Webhook, webhook_id)
    return render_template(
        "admin/webhook.html", webhook=webhook, messages=endpoints.recent_messages(webhook), button=ConfirmForm()
    )


def _act(webhook_id: int, name: str, action, message: str):
    if not ConfirmForm().validate():
        abort(400)
    webhook = db.get_or_404(Webhook, webhook_id)
    action(webhook)
    note(f"webhook.{name}", f"webhook {webhook_id}")
    db.session.commit()
    flash(message, "success")


@bp.post("/connections/webhooks/<int:webhook_id>/test")
@allow(AdminRole.ADMIN)
def webhook_test(webhook_id: int):
    _act(webhook_id, "test", events.queue_test, _("A test event is queued; the worker sends it within moments."))
    return redirect(url_for("admin.webhook_detail", webhook_id=webhook_id))


@bp.post("/connections/webhooks/<int:webhook_id>/enable")
@allow(AdminRole.ADMIN)
def webhook_enable(webhook_id: int):
    _act(webhook_id, "enable", endpoints.enable, _("The webhook is on again; the events still waiting go out now."))
    return redirect(url_for("admin.webhook_detail", webhook_id=webhook_id))


@bp.post("/connections/webhooks/<int:webhook_id>/remove")
@allow(AdminRole.ADMIN)
def webhook_remove(webhook_id: int):
    _act(webhook_id, "remove", endpoints.remove, _("The webhook is removed."))
    return redirect(url_for("admin.connections"))

"""Public pages: sign-up, confirmation, privacy notice (SPEC §3). Thin: rules live in services."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template
from flask_babel import get_locale

from .. import consent, subscribers, tokens
from ..extensions import db, limiter
from ..forms import ActionForm, SubscribeForm
from ..models import SubscriberStatus
from ..requestinfo import client_ip, has_line_breaks, user_agent

bp = Blueprint("public", __name__)


def _subscribe_limit() -> str:
    return current_app.config["RATELIMIT_SUBSCRIBE"]


def _token_limit() -> str:
    return current_app.config["RATELIMIT_TOKEN_PAGES"]


def _language() -> str:
    return str(get_locale())


def _render_form(form: SubscribeForm, status: int = 200):
    version = consent.text_version(_language())
    db.session.commit()
    form.consent_version.data = version.sha256
    return render_template("public/subscribe.html", form=form, statement=version.text), status


@bp.get("/")
@bp.get("/subscribe")
def subscribe_form():
    return _render_form(SubscribeForm())


@bp.post("/subscribe")
@limiter.limit(_subscribe_limit)
def subscribe():
    if has_line_breaks():
        abort(400)
    form = SubscribeForm()
    if not form.validate():
        return _render_form(form, 422)
    if form.website.data:  # a bot filled the honeypot: same answer, nothing done
        return render_template("public/subscribe_done.html")
    text = consent.find_text_version(form.consent_version.data)
    if text is None or text.language != _language():
        form.form_errors.append("stale")
        return _render_form(form, 409)
    subscribers.request_subscription(
        form.email.data, text=text, locale=_language(), ip=client_ip(), user_agent=user_agent()
    )
    db.session.commit()
    return render_template("public/subscribe_done.html")


def _load_confirm(token: str):
    try:
        return tokens.load_confirm_token(token), None
    except tokens.RevokedToken as exc:
        if exc.subscriber.status is SubscriberStatus.CONFIRMED:
            return exc.subscriber, "already"
        raise


@bp.get("/confirm/<token>")
@limiter.limit(_token_limit)
def confirm_form(token: str):
    subscriber, state = _load_confirm(token)
    if state == "already":
        return render_template("public/confirmed.html", already=True)
    return render_template("public/confirm.html", form=ActionForm())


@bp.post("/confirm/<token>")
@limiter.limit(_token_limit)
def confirm(token: str):
    form = ActionForm()
    if not form.validate():
        abort(400)
    subscriber, state = _load_confirm(token)
    if state != "already":
        subscribers.confirm(subscriber, ip=client_ip(), user_agent=user_agent())
        db.session.commit()
    return render_template("public/confirmed.html", already=state == "already")


@bp.get("/privacy")
def privacy():
    url = current_app.config.get("PRIVACY_URL")
    if url:
        return redirect(url)
    return render_template("public/privacy.html")

"""Public pages: sign-up, confirmation, leaving, preferences, privacy notice (SPEC §3).

Thin: rules live in services.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, make_response, redirect, render_template, request
from flask_babel import force_locale, get_locale

from .. import address_requests, consent, embedding, personal_data, publisher, signups, subscribers, tokens, wording
from .. import preferences as prefs
from ..extensions import csrf, db, limiter, sign_up_limit
from ..forms import ActionForm, EmbeddedSubscribeForm, PreferencesLinkForm, SubscribeForm
from ..models import ConsentChannel, Subscriber, SubscriberStatus
from ..requestinfo import client_ip, has_line_breaks, user_agent
from .embed import embedded_sign_up

bp = Blueprint("public", __name__)


def _subscribe_limit() -> str:
    return current_app.config["RATELIMIT_SUBSCRIBE"]


def _token_limit() -> str:
    return current_app.config["RATELIMIT_TOKEN_PAGES"]


def _language() -> str:
    return str(get_locale())


def _render_form(form: SubscribeForm, status: int = 200):
    version = wording.current(_language())
    db.session.commit()
    form.consent_version.data = version.sha256
    return render_template("public/subscribe.html", form=form, statement=version.text), status


@bp.get("/")
@bp.get("/subscribe")
def subscribe_form():
    return _render_form(SubscribeForm())


@bp.post("/subscribe")
@csrf.exempt  # our own form carries its CSRF token (checked below); a publisher's page its Origin
@sign_up_limit
def subscribe():
    """Sign up from our own form, or from the plain form on a publisher's page (SPEC §8): a
    page of an origin in EMBED_ORIGINS needs no CSRF token, a page of any other site gets 403."""
    if has_line_breaks():
        abort(400)
    embedder = embedding.is_cross_site_embedder()
    if embedder is False:
        abort(403)
    if embedder:
        return _plain_form_sign_up()
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    form = SubscribeForm()
    if not form.validate():
        return _render_form(form, 422)
    stale = signups.sign_up(
        form.email.data, consent_version=form.consent_version.data, language=_language(),
        channel=ConsentChannel.FORM, ip=client_ip(), user_agent=user_agent(), honeypot=form.website.data,
    )
    db.session.commit()
    if stale is not None:
        form.form_errors.append("stale")
        return _render_form(form, 409)
    return render_template("public/subscribe_done.html")


def _plain_form_sign_up():
    """The publisher's plain form: the done page, or the reader's ``redirect`` on an allowed
    origin; bad input or an outdated wording shows our own form with what was typed."""
    outcome = embedded_sign_up(EmbeddedSubscribeForm())
    with force_locale(outcome.language):
        if outcome.invalid or outcome.stale is not None:
            form = SubscribeForm(formdata=None, email=(outcome.form.email.raw_data or [""])[0])
            form.email.errors = list(outcome.form.email.errors)
            if outcome.stale is not None:
                form.form_errors.append("stale")
            return _render_form(form, 409 if outcome.stale is not None else 422)
        if embedding.is_allowed_redirect(outcome.form.redirect.data):
            return redirect(outcome.form.redirect.data, 303)
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
    if state == "already":
        return render_template("public/confirmed.html", already=True)
    subscribers.confirm(subscriber, ip=client_ip(), user_agent=user_agent())
    db.session.commit()
    preferences_token = tokens.make_preferences_token(subscriber)
    return render_template("public/confirmed.html", already=False, preferences_token=preferences_token)


#: Statuses in which there is still something to leave.
_SUBSCRIBED = (SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING, SubscriberStatus.SUSPENDED)


def _is_one_click() -> bool:
    """An RFC 8058 one-click request: a POST whose body is ``List-Unsubscribe=One-Click``.

    Mailbox providers send it without cookies or CSRF token, urlencoded or multipart.
    """
    return request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click"


def _genuine_one_click() -> bool:
    """A one-click request with a token we signed: never turned away by the rate limit,
    because a provider relays many readers' clicks from few addresses and a refused
    request would be a lost withdrawal. Forged tokens stay limited."""
    token = (request.view_args or {}).get("token", "")
    return _is_one_click() and tokens.unsubscribe_token_is_genuine(token)


def _load_unsubscribe(token: str) -> Subscriber | None:
    """The subscriber of an unsubscribe link; None if their record is gone (erased).

    A tampered token raises :class:`~newsletter.tokens.InvalidToken` (a 404 page).
    """
    try:
        return tokens.load_unsubscribe_token(token)
    except tokens.UnknownSubscriber:
        return None


@bp.get("/unsubscribe/<token>")
@limiter.limit(_token_limit)
def unsubscribe_form(token: str):
    """A page with one button; GET changes nothing (mail scanners fetch every link)."""
    subscriber = _load_unsubscribe(token)
    if subscriber is None or subscriber.status not in _SUBSCRIBED:
        return render_template("public/unsubscribed.html", already=True)
    return render_template("public/unsubscribe.html", form=ActionForm())


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # the one-click POST carries no CSRF token; the page's POST is checked below
@limiter.limit(_token_limit, exempt_when=_genuine_one_click)
def unsubscribe(token: str):
    """Withdraw consent: the page's button (CSRF-checked) or an RFC 8058 one-click POST.

    Repeating it is harmless; the one-click answer is a plain 200, never a redirect.
    """
    one_click = _is_one_click()
    if not one_click and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    subscriber = _load_unsubscribe(token)
    withdrawn = False
    if subscriber is not None:
        channel = ConsentChannel.ONE_CLICK if one_click else ConsentChannel.LINK
        withdrawn = subscribers.withdraw(subscriber, channel)
        db.session.commit()
    if one_click:
        return "", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    return render_template("public/unsubscribed.html", already=not withdrawn)


#: Statuses in which the preferences page offers to unsubscribe. Not pending: there is no
#: newsletter to leave yet, and a pending sign-up that is purged must hold no unsubscribe
#: link (unsubscribe tokens name only a row id).
_LEAVABLE = (SubscriberStatus.CONFIRMED, SubscriberStatus.SUSPENDED)

_NO_STORE = {"Cache-Control": "private, no-store"}


@bp.get("/preferences/<token>")
@limiter.limit(_token_limit)
def preferences(token: str):
    """The subscription's status and consent, and what the subscriber can do about them."""
    subscriber = tokens.load_preferences_token(token)
    page = render_template(
        "public/preferences.html",
        subscriber=subscriber,
        consent=prefs.consent_summary(subscriber),
        token=token,
        form=ActionForm() if subscriber.status in _LEAVABLE else None,
        unsubscribe_token=tokens.make_unsubscribe_token(subscriber),
    )
    return page, 200, _NO_STORE


@bp.get("/preferences/<token>/data.json")
@limiter.limit(_token_limit)
def preferences_download(token: str):
    """Everything held about the address, as a JSON file (COMPLIANCE item 33)."""
    subscriber = tokens.load_preferences_token(token)
    body = json.dumps(personal_data.export(subscriber), indent=2, ensure_ascii=False) + "\n"
    return Response(
        body,
        mimetype="application/json",
        headers={
            **_NO_STORE,
            "Content-Disposition": 'attachment; filename="newsletter-data.json"',
        },
    )


@bp.get("/preferences/<token>/erase")
@limiter.limit(_token_limit)
def erase_form(token: str):
    """What erasure means, and one button; GET changes nothing."""
    tokens.load_preferences_token(token)
    return render_template("public/erase.html", form=ActionForm(), token=token), 200, _NO_STORE


@bp.post("/preferences/<token>/erase")
@limiter.limit(_token_limit)
def erase(token: str):
    """Erase the subscriber's data (COMPLIANCE item 34); every link of theirs stops working."""
    form = ActionForm()
    if not form.validate():
        abort(400)
    subscriber = tokens.load_preferences_token(token)
    subscribers.erase(subscriber, ConsentChannel.LINK)
    db.session.commit()
    return render_template("public/erased.html"), 200, _NO_STORE


def _render_link_form(form: PreferencesLinkForm, status: int = 200):
    return render_template("public/preferences_request.html", form=form), status


@bp.get("/preferences")
def preferences_link_form():
    """Ask for a fresh preferences link by email."""
    return _render_link_form(PreferencesLinkForm())


@bp.post("/preferences")
@limiter.limit(_subscribe_limit)
def preferences_link():
    """Mail a fresh preferences link if the address is known; the same answer for every address."""
    if has_line_breaks():
        abort(400)
    form = PreferencesLinkForm()
    if not form.validate():
        return _render_link_form(form, 422)
    if not form.website.data:  # a filled honeypot: same answer, nothing done
        address_requests.submit_preferences_link(form.email.data, _language())
        db.session.commit()
    return render_template("public/preferences_link_sent.html")


@bp.get("/privacy")
def privacy():
    url = current_app.config.get("PRIVACY_URL")
    if url:
        return redirect(url)
    return render_template("public/privacy.html", operator_statement=consent.operator_statement(_language()))


@bp.get("/brand.css")
def brand_css():
    """The publisher's accent colour (BRAND_COLOR) for the pages: a style sheet of this site,
    so the Content-Security-Policy needs no inline styles."""
    found = publisher.current()
    response = make_response(f":root {{ --accent: {found.accent}; --on-accent: {found.on_accent}; }}\n")
    response.content_type = "text/css; charset=utf-8"
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response

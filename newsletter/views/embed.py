"""The sign-up on the publisher's own pages (SPEC §8): the iframe page, the widget's script and
style, and the sign-up they and the plain form share.

The iframe's form posts to its own page: no session cookie reaches us inside another site's
frame, so the POST is accepted only from our own origin (which only our frame, on the
EMBED_ORIGINS that may show it, can be), never with a CSRF token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import force_locale, get_locale

from .. import embedding, signups, wording
from ..extensions import csrf, db, sign_up_limit
from ..forms import EmbeddedSubscribeForm
from ..models import ConsentChannel, ConsentText
from ..requestinfo import client_ip, has_line_breaks, user_agent
from ..security_headers import frame_ancestors
from . import widget

bp = Blueprint("embed", __name__)
csrf.exempt(bp)  # nothing here relies on a cookie; the POST checks its origin

#: Browsers and proxies keep the widget this long, then ask again (If-None-Match: 304).
ASSET_MAX_AGE = 24 * 60 * 60


def _language(requested: str | None) -> str:
    return requested if requested in current_app.config["LANGUAGES"] else str(get_locale())


@dataclass
class Outcome:
    """What an embedded sign-up came to: ``stale`` holds the current wording to show again."""

    form: EmbeddedSubscribeForm
    language: str
    stale: ConsentText | None = None
    invalid: bool = False


def embedded_sign_up(form: EmbeddedSubscribeForm) -> Outcome:
    """Sign up from a publisher's page (the plain form, the iframe): channel ``embed``, the
    page kept as ``source_url`` (the form's field, else the Referer) when on an allowed origin."""
    language = form.language.data if form.language.data in current_app.config["LANGUAGES"] else None
    language = language or signups.language_of(form.consent_version.data or "", str(get_locale()))
    if not form.validate():
        return Outcome(form, language, invalid=True)
    stale = signups.sign_up(
        form.email.data,
        consent_version=form.consent_version.data,
        language=language,
        channel=ConsentChannel.EMBED,
        ip=client_ip(),
        user_agent=user_agent(),
        source_url=embedding.kept_source_url(form.source_url.data or request.headers.get("Referer")),
        honeypot=form.website.data,
    )
    db.session.commit()
    return Outcome(form, language, stale=stale)


def _render_frame(form: EmbeddedSubscribeForm, language: str, status: int = 200, stale: bool = False):
    with force_locale(language):
        version = wording.current(language)
        db.session.commit()
        form.consent_version.data = version.sha256
        form.language.data = language
        page = render_template(
            "embed/subscribe.html", form=form, statement=version.text, stale=stale, language=language
        )
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/embed/subscribe")
@frame_ancestors(embedding.allowed_origins)
def frame():
    """The form alone, for an iframe on the publisher's page (``?lang=en``, ``?source=<page>``)."""
    form = EmbeddedSubscribeForm(formdata=None)
    form.source_url.data = request.args.get("source") or request.headers.get("Referer") or ""
    return _render_frame(form, _language(request.args.get("lang")))


@bp.post("/embed/subscribe")
@frame_ancestors(embedding.allowed_origins)
@sign_up_limit
def frame_subscribe():
    if embedding.request_origin() not in embedding.own_origins():
        abort(403)
    if has_line_breaks():
        abort(400)
    outcome = embedded_sign_up(EmbeddedSubscribeForm())
    if outcome.invalid:
        return _render_frame(outcome.form, outcome.language, 422)
    if outcome.stale is not None:
        return _render_frame(outcome.form, outcome.language, 409, stale=True)
    with force_locale(outcome.language):
        page = render_template("embed/done.html", language=outcome.language)
    return page, 200, {"Cache-Control": "no-store"}


def _asset(body: str, mimetype: str) -> Response:
    """A script or style sheet for other sites' pages: cached for a day, then revalidated by
    its content hash (304 when unchanged)."""
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    response = Response(body, mimetype=mimetype)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = ASSET_MAX_AGE
    # The widget runs on other origins; a stylesheet it links from there must be readable.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


@bp.get("/embed.js")
def widget_script():
    return _asset(widget.script(), "text/javascript")


@bp.get("/embed.css")
def widget_style():
    return _asset(widget.style(), "text/css")


@bp.get("/embed/frame.js")
def frame_loader():
    """The optional loader for the iframe snippet: lets our frame set its own height."""
    return _asset(widget.frame_loader(), "text/javascript")

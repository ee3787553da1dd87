"""The public sign-up API (SPEC §8): the current consent wording, and signing up with it.

Open to the pages of EMBED_ORIGINS by CORS (the widget ``/embed.js`` uses it); the same
limits, honeypot and no-enumeration rules as the hosted form, through the same service
(:func:`newsletter.signups.sign_up`).
"""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.exceptions import Conflict

from .. import embedding, signups, wording
from ..extensions import db, select_locale, sign_up_limit
from ..models import ConsentChannel
from ..requestinfo import client_ip, user_agent
from ..wording import Wording
from . import errors
from .base import blueprint
from .cors import open_to_embedders
from .fields import Email

bp = blueprint("api_public", __name__, "Sign-up from the publisher's own pages: no token, CORS for EMBED_ORIGINS")
open_to_embedders(bp)


def _language_choice(value: str) -> None:
    if value not in current_app.config["LANGUAGES"]:
        raise ma.ValidationError(f"Must be one of: {', '.join(current_app.config['LANGUAGES'])}.")


class ConsentTextQuery(ma.Schema):
    lang = ma.fields.String(validate=_language_choice, metadata={"description": "Default: by Accept-Language"})


class ConsentTextSchema(ma.Schema):
    version = ma.fields.String(metadata={"description": "SHA-256 of the text: send it as consent_version"})
    text = ma.fields.String(metadata={"description": "The consent statement, to be shown above the button"})
    button = ma.fields.String(metadata={"description": "The label of the button the statement names"})
    language = ma.fields.String()


class ConflictSchema(errors.ErrorSchema):
    consent = ma.fields.Nested(ConsentTextSchema, metadata={"description": "The current wording, to show"})


class SubscriptionSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    email = Email(required=True)
    consent_version = ma.fields.String(
        required=True, validate=ma.validate.Length(equal=64),
        metadata={"description": "The version of the wording the reader saw (GET /consent-text)"},
    )
    source_url = ma.fields.String(
        validate=ma.validate.Length(max=embedding.MAX_SOURCE_URL),
        metadata={"description": "The page the reader was on; kept only on an origin of EMBED_ORIGINS"},
    )
    language = ma.fields.String(validate=_language_choice, metadata={"description": "Default: the wording's"})
    website = ma.fields.String(
        validate=ma.validate.Length(max=200), metadata={"description": "Honeypot: leave it out or empty"}
    )
    channel = ma.fields.String(
        load_default="api", validate=ma.validate.OneOf(["api", "embed"]),
        metadata={"description": "How the evidence names the way in: embed for the widget"},
    )


class AcceptedSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "Always 'received', whatever the address"})
    message = ma.fields.String()


def _wording(text: Wording) -> dict[str, str]:
    with force_locale(text.language):
        button = _("Subscribe")
    return {"version": text.sha256, "text": text.text, "button": button, "language": text.language}


@bp.route("/consent-text", methods=["GET"])
@bp.arguments(ConsentTextQuery, location="query")
@bp.response(200, ConsentTextSchema)
def consent_text(query):
    """The current consent statement, to be shown above the button it names."""
    text = wording.current(query.get("lang") or select_locale())
    db.session.commit()
    return _wording(text)


@bp.route("/subscriptions", methods=["POST"])
@sign_up_limit
@bp.arguments(SubscriptionSchema)
@bp.response(202, AcceptedSchema)
@bp.alt_response(409, schema=ConflictSchema, description="The wording has changed: show the current one")
def subscribe(body):
    """Sign an address up: a confirmation mail goes to it (the same answer for every address)."""
    language = body.get("language") or signups.language_of(body["consent_version"], select_locale())
    current = signups.sign_up(
        body["email"],
        consent_version=body["consent_version"],
        language=language,
        channel=ConsentChannel(body["channel"]),
        ip=client_ip(),
        user_agent=user_agent(),
        source_url=embedding.kept_source_url(body.get("source_url") or request.headers.get("Referer")),
        honeypot=body.get("website"),
    )
    db.session.commit()
    if current is not None:
        stale = Conflict("The consent wording has changed; show the current one and ask again.")
        return errors.response(stale, consent=_wording(current))
    with force_locale(language):
        message = _(
            "If the address can be subscribed, we have sent it an email with a confirmation link."
            " Your subscription starts only when you confirm it there."
        )
    return {"status": "received", "message": message}

"""The widget's script and style sheet (``/embed.js``, ``/embed.css``) and the iframe's loader,
rendered once per app from templates/embed/ with the texts in every language offered and the
operator's BRAND_COLOR: one file for every page and language, so browsers cache it."""

from __future__ import annotations

import re

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from ..delivery.compose import sender_address

#: The accent when BRAND_COLOR is unset or not a CSS hex colour (the hosted pages' blue).
DEFAULT_ACCENT = "#1f5fbf"
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_CACHE = "newsletter_embed_assets"


def _texts() -> dict[str, str]:
    return {
        "label": _("Email address"),
        "required": _("Please enter your email address."),
        "invalid": _("This is not a valid email address."),
        "honeypot": _("Leave this field empty"),
        "privacy": _("Privacy notice"),
        "doneTitle": _("Almost done: please check your inbox"),
        "doneText": _(
            "If the address can be subscribed, we have sent it an email with a confirmation link."
            " Your subscription starts only when you confirm it there."
        ),
        "doneHint": _(
            "No email? Look in your spam folder, or wait a few minutes. The link is valid for %(days)s days.",
            days=current_app.config["CONFIRM_MAX_AGE_DAYS"],
        ),
        "openInbox": _("Open %(provider)s", provider="{provider}"),
        "stale": _(
            "The consent statement has changed since the page was loaded. Please read it and send the form again."
        ),
        "tooMany": _("Please wait a moment before trying again."),
        "unavailable": _("The sign-up is not available right now. Please try again later."),
    }


def _privacy_url() -> str:
    return current_app.config.get("PRIVACY_URL") or current_app.config["BASE_URL"] + url_for("public.privacy")


def _rendered(name: str, **context) -> str:
    cache = current_app.extensions.setdefault(_CACHE, {})
    if name not in cache:
        cache[name] = render_template(name, **context)
    return cache[name]


def script() -> str:
    texts = {}
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            texts[language] = _texts()
    return _rendered(
        "embed/widget.js", texts=texts, default_language=current_app.config["LANGUAGES"][0],
        sender=sender_address(), privacy_url=_privacy_url(),
    )


def accent() -> str:
    configured = str(current_app.config.get("BRAND_COLOR") or "")
    return configured if _HEX_COLOUR.fullmatch(configured) else DEFAULT_ACCENT


def style() -> str:
    return _rendered("embed/widget.css", accent=accent())


def frame_loader() -> str:
    return _rendered("embed/loader.js")

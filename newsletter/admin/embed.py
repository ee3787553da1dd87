"""/admin/embed (SPEC §8, issue 14 point 6): the three ways to put the sign-up on the
publisher's pages as snippets ready to copy, the origins allowed, and the widget live."""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import get_locale

from .. import embedding, wording
from ..extensions import db
from ..models import AdminRole
from .blueprint import bp
from .roles import allow


def _snippets(language: str) -> dict[str, str]:
    """The widget, the iframe and the plain form for pages in ``language``; the plain form
    holds the current wording and its version, so it is to be copied again after a change."""
    shown = wording.current(language)
    context = {
        "base": current_app.config["BASE_URL"],
        "language": language,
        "wording": shown,
        "privacy_url": current_app.config.get("PRIVACY_URL") or current_app.config["BASE_URL"] + "/privacy",
    }
    return {
        name: render_template(f"embed/snippets/{name}.html", **context).strip()
        for name in ("widget", "iframe", "form")
    }


@bp.get("/embed")
@allow(AdminRole.ADMIN)
def embed():
    language = str(get_locale())
    snippets = _snippets(language)
    db.session.commit()  # the wording shown in the form snippet is stored as a version
    return render_template(
        "admin/embed.html", snippets=snippets, origins=embedding.allowed_origins(), language=language
    )

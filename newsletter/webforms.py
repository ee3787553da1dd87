"""The base of every form: Flask-WTF's, with WTForms' own messages ("This field is required.")
translated from a catalogue loaded once per process and language.

Flask-WTF loads that catalogue afresh for every request that builds a form (it keeps it on the
request only), which cost a GET of the sign-up form about a tenth of its time (issue 16).
"""

from __future__ import annotations

from functools import cache

from babel import support
from flask import current_app
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path


@cache
def _catalogue(locale: str) -> support.Translations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class Form(FlaskForm):
    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _catalogue(str(get_locale()))

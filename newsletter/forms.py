"""Public forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from .addresses import MAX_EMAIL_LENGTH, normalise_email
from .webforms import Form


class _AddressForm(Form):
    """A public form asking for one email address, with a honeypot (COMPLIANCE item 42)."""

    email = EmailField(
        _l("Email address"),
        validators=[
            DataRequired(_l("Please enter your email address.")),
            Length(max=MAX_EMAIL_LENGTH, message=_l("This address is too long.")),
        ],
    )
    #: Honeypot: hidden from people by CSS, filled in by bots.
    website = StringField(_l("Leave this field empty"), validators=[Length(max=200)])

    def validate_email(self, field) -> None:
        try:
            field.data = normalise_email(field.data or "")
        except ValueError as exc:
            raise ValidationError(_l("This is not a valid email address.")) from exc


class SubscribeForm(_AddressForm):
    """The sign-up form (SPEC §3)."""

    #: The SHA-256 of the consent statement the visitor saw, so the evidence names exactly it.
    consent_version = HiddenField(validators=[DataRequired(), Length(max=64)])


class EmbeddedSubscribeForm(_AddressForm):
    """The sign-up from a publisher's page (SPEC §8): the plain form posted from there, and the
    iframe. No CSRF token: no cookie reaches us from there; the request's origin is checked
    instead (:mod:`newsletter.embedding`)."""

    class Meta:
        csrf = False

    consent_version = HiddenField(validators=[DataRequired(), Length(max=64)])
    #: The page the reader was on; the language of the wording shown; where to go afterwards.
    source_url = HiddenField(validators=[Length(max=2048)])
    language = HiddenField(validators=[Length(max=8)])
    redirect = HiddenField(validators=[Length(max=2048)])


class ActionForm(Form):
    """A form that is only a button (confirm, unsubscribe): CSRF and nothing else."""


class PreferencesLinkForm(_AddressForm):
    """Asking for a fresh link to the preferences page."""

"""Public forms."""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

#: RFC 5321: an address is at most 254 octets.
MAX_EMAIL_LENGTH = 254


def normalise_email(value: str) -> str:
    """The address as stored: syntax checked (no DNS lookups), lower-cased.

    :raises ValueError: with a message for the visitor.
    """
    plain = value.strip().lower()
    if _is_plain(plain):
        return plain
    try:
        # No SMTPUTF8: a mailbox name beyond ASCII cannot go through most relays. Domains
        # beyond ASCII are fine (kept as typed, sent in their IDNA form: mail.wire_address).
        result = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return result.normalized.lower()


#: An ASCII dot-atom address with a dotted host name: what nearly every address looks like,
#: and what email_validator accepts and leaves as it is (tests/test_forms.py checks that).
#: Anything else (quoted parts, IDN, special-use domains, odd labels) goes to email_validator:
#: an import of 100,000 rows spent a third of its time there.
_PLAIN_ADDRESS = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z])?"
)
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


def _is_plain(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    return (
        len(address) <= MAX_EMAIL_LENGTH
        and len(local) <= 64
        and "--" not in domain
        and not domain.endswith(_SPECIAL_USE)
        and _PLAIN_ADDRESS.fullmatch(address) is not None
    )


class _AddressForm(FlaskForm):
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


class ActionForm(FlaskForm):
    """A form that is only a button (confirm, unsubscribe): CSRF and nothing else."""


class PreferencesLinkForm(_AddressForm):
    """Asking for a fresh link to the preferences page."""

"""Forms of the team pages, one's own account and the audit log (Flask-WTF: CSRF on every
form that changes something)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from .. import admins, clock
from ..addresses import MAX_EMAIL_LENGTH, normalise_email
from ..models import AdminRole
from ..webforms import Form
from .formatting import label


def _role_choices() -> list[tuple[str, object]]:
    return [(role.value, label(role)) for role in AdminRole]


class InviteForm(Form):
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Please enter an email address.")), Length(max=MAX_EMAIL_LENGTH)],
    )
    role = SelectField(_l("Role"), default=AdminRole.EDITOR.value)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = _role_choices()

    def validate_email(self, field) -> None:
        try:
            field.data = normalise_email(field.data or "")
        except ValueError as exc:
            raise ValidationError(_l("This is not a valid email address.")) from exc


class RoleForm(Form):
    role = SelectField(_l("Role"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = _role_choices()


class SetPasswordForm(Form):
    password = PasswordField(
        _l("New password (at least %(length)s characters)", length=admins.MIN_PASSWORD_LENGTH),
        validators=[DataRequired(_l("Please enter a password.")), Length(max=admins.MAX_PASSWORD_LENGTH)],
    )
    again = PasswordField(
        _l("The same password again"),
        validators=[EqualTo("password", _l("The two passwords differ."))],
    )


class CodeForm(Form):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Please enter the code.")), Length(max=64)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off"},
    )


class AuditFilterForm(Form):
    """The filter above the audit log; sent by GET, so it changes nothing and needs no CSRF."""

    class Meta:
        csrf = False

    admin = SelectField(_l("Admin"), default="")
    action = SelectField(_l("Action"), default="")
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To (inclusive)"), validators=[Optional()])

    def validate_since(self, field) -> None:
        _within_the_years(field)

    def validate_until(self, field) -> None:
        _within_the_years(field)

    def __init__(self, *args, admins_named: list[str], actions: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.admin.choices = [("", _l("all"))] + [(email, email) for email in admins_named]
        self.action.choices = [("", _l("all"))] + [(action, action) for action in actions]


def _within_the_years(field) -> None:
    if field.data is not None and not clock.EARLIEST_YEAR <= field.data.year <= clock.LATEST_YEAR:
        raise ValidationError(
            _l(
                "Please enter a date between the years %(first)s and %(last)s.",
                first=clock.EARLIEST_YEAR,
                last=clock.LATEST_YEAR,
            )
        )

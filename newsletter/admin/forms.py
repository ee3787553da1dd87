"""Forms of the admin area (Flask-WTF: every form that changes something carries CSRF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateTimeLocalField,
    EmailField,
    PasswordField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .. import admins, articles, clock, digest, images
from ..addresses import MAX_EMAIL_LENGTH, normalise_email
from ..models import SubscriberStatus
from ..webforms import Form
from ..webhooks.events import EVENTS
from .formatting import label


class LoginForm(Form):
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Please enter your email address.")), Length(max=MAX_EMAIL_LENGTH)],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Please enter your password.")), Length(max=admins.MAX_PASSWORD_LENGTH)],
    )


class ConfirmForm(Form):
    """A button that changes something (sign out, withdraw, send now): CSRF and nothing else."""


class SendNowForm(Form):
    """Send now: an optional subject and intro; the articles chosen are read by the view."""

    subject = StringField(
        _l("Subject (empty: the site's name and the lead article)"),
        validators=[Optional(), Length(max=digest.MAX_SUBJECT_LENGTH, message=_l("The subject is too long."))],
    )
    intro = TextAreaField(
        _l("Intro paragraph above the articles (plain text, optional)"),
        validators=[Optional(), Length(max=digest.MAX_INTRO_LENGTH, message=_l("The intro is too long."))],
    )

    def validate_subject(self, field) -> None:
        _clean_with(field, digest.clean_subject, _l("The subject must be a single line without control characters."))

    def validate_intro(self, field) -> None:
        _clean_with(field, digest.clean_intro, _l("The intro must be plain text without control characters."))


def _clean_with(field, clean, message) -> None:
    """Put ``field``'s data through the service's ``clean``; its objection in ``message``'s words."""
    if field.errors:  # already told (too long)
        return
    try:
        field.data = clean(field.data)
    except digest.DigestInputError as exc:
        raise ValidationError(message) from exc


class SubscriberFilterForm(Form):
    """The search above the subscriber list; sent by GET, so it changes nothing and needs no CSRF."""

    class Meta:
        csrf = False

    q = SearchField(_l("Address contains"), validators=[Optional(), Length(max=MAX_EMAIL_LENGTH)])
    #: Validated against the choices (the statuses and "" for all), whitespace included.
    status = SelectField(_l("Status"), default="")
    #: The sources subscribers have (an import's source column), and "" for all.
    source = SelectField(_l("Source"), default="")

    def __init__(self, *args, sources: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.status.choices = [("", _l("all"))] + [
            (status.value, label(status)) for status in SubscriberStatus
        ]
        self.source.choices = [("", _l("all"))] + [(source, source) for source in sources]

    @property
    def chosen_status(self) -> SubscriberStatus | None:
        return SubscriberStatus(self.status.data) if self.status.data else None


class TestSendForm(Form):
    email = EmailField(
        _l("Send a test to"),
        validators=[DataRequired(_l("Please enter an email address.")), Length(max=MAX_EMAIL_LENGTH)],
    )

    def validate_email(self, field) -> None:
        try:
            field.data = normalise_email(field.data or "")
        except ValueError as exc:
            raise ValidationError(_l("This is not a valid email address.")) from exc


def _required_address(label, missing) -> URLField:
    """A web address that must be given, at most as long as the articles' (and feeds') column."""
    return URLField(
        label,
        validators=[
            DataRequired(missing),
            Length(max=articles.MAX_URL_LENGTH, message=_l("The address is too long.")),
        ],
    )


class FeedForm(Form):
    url = _required_address(_l("Address (URL) of the RSS or Atom feed"), _l("Please enter the feed's address."))


class ArticleForm(Form):
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Please enter a title.")),
            Length(max=articles.MAX_TITLE_LENGTH, message=_l("The title is too long.")),
        ],
    )
    url = _required_address(_l("Address (URL) of the article"), _l("Please enter the article's address."))
    summary = TextAreaField(
        _l("Summary (plain text, shown in the digest)"),
        validators=[
            Optional(),
            Length(max=articles.MAX_SUMMARY_LENGTH, message=_l("The summary is too long.")),
        ],
    )
    body_html = TextAreaField(
        _l("Body (HTML; scripts, styles and other unsafe markup are removed)"),
        validators=[Optional(), Length(max=200_000, message=_l("The body is too long."))],
    )
    image_url = URLField(
        _l("Picture (https address, shown in the digest)"),
        validators=[Optional(), Length(max=images.MAX_URL_LENGTH, message=_l("The address is too long."))],
    )
    image_alt = StringField(
        _l("What the picture shows (for readers who do not see it)"),
        validators=[Optional(), Length(max=images.MAX_ALT_LENGTH, message=_l("The text is too long."))],
    )
    published_at = DateTimeLocalField(
        _l("Published at"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )

    # The articles service has the rules; these checks only put its verdict into words here.
    def validate_title(self, field) -> None:
        if field.errors:  # already told (empty, too long)
            return
        try:
            articles.clean_title(field.data)
        except articles.ArticleError as exc:
            raise ValidationError(_l("The title must be a single line without control characters.")) from exc

    def validate_url(self, field) -> None:
        if field.errors:  # already told (empty, too long)
            return
        try:
            articles.clean_url(field.data)
        except articles.ArticleError as exc:
            raise ValidationError(
                _l("Please enter a full web address starting with http:// or https://.")
            ) from exc

    def validate_summary(self, field) -> None:
        if field.errors:  # already told (empty, too long)
            return
        try:
            articles.clean_summary(field.data)
        except articles.ArticleError as exc:
            raise ValidationError(_l("The summary must be plain text without control characters.")) from exc

    def validate_published_at(self, field) -> None:
        if field.errors or field.data is None:  # already told (not a time), or left empty
            return
        if not clock.holdable(field.data):
            raise ValidationError(
                _l(
                    "Please enter a date between the years %(first)s and %(last)s.",
                    first=clock.EARLIEST_YEAR,
                    last=clock.LATEST_YEAR,
                )
            )


class ApiTokenForm(Form):
    """A new admin API token (the same as ``create-api-token``)."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Please name the token.")), Length(max=64)])
    scope = SelectField(_l("May"), default="read")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scope.choices = [("read", _l("read only")), ("write", _l("read and change"))]


class WebhookForm(Form):
    """A new webhook endpoint (the same as ``add-webhook``)."""

    url = URLField(_l("URL"), validators=[DataRequired(_l("Please enter the URL.")), Length(max=2048)])
    events = SelectMultipleField(
        _l("Events"),
        validators=[DataRequired(_l("Choose at least one event."))],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events.choices = [(event, event) for event in EVENTS]

"""What each kind of queued mail looks like, who receives it and who may still receive it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from flask import current_app, g
from flask_babel import force_locale, format_date
from markupsafe import escape

from .. import articles, clock, publisher, suppression, tokens
from ..extensions import db
from ..images import ArticleImage
from ..models import AdminUser, Article, Delivery, Digest, MailKind, SubscriberStatus
from . import compose
from .links import external_url, token_url_builder
from .queue import ClaimedMail

#: A delivery as the sender reads it (:class:`.queue.ClaimedMail`), or the ORM row itself.
Mail = Delivery | ClaimedMail


class MailSpec(Protocol):
    def recipient(self, delivery: Mail) -> str | None:
        """The address the mail goes to."""

    def eligible(self, delivery: Mail) -> bool:
        """Whether the mail may still go out; checked right before sending."""

    def content(self, delivery: Mail) -> compose.Content: ...


class ConfirmMail:
    """The double-opt-in request: neutral, no advertising (COMPLIANCE items 10–11)."""

    def recipient(self, delivery: Mail) -> str | None:
        return delivery.subscriber.email

    def eligible(self, delivery: Mail) -> bool:
        subscriber = delivery.subscriber
        return (
            subscriber.email is not None
            and subscriber.status not in (SubscriberStatus.CONFIRMED, SubscriberStatus.ERASED)
            # a newer request revoked this mail's link; its own mail carries the working one
            and delivery.context.get("nonce") == subscriber.confirm_nonce
        )

    def content(self, delivery: Mail) -> compose.Content:
        return _with_link(
            "confirm",
            delivery.subscriber.locale,
            "confirm_url",
            _token_url("public.confirm", delivery.context["token"]),
            max_age_days=current_app.config["CONFIRM_MAX_AGE_DAYS"],
        )


@dataclass(frozen=True)
class DigestItem:
    """One article as a digest shows it: plain text, to be escaped by the template."""

    title: str
    #: None when the stored URL is not http(s): such a link is never put into a mail.
    url: str | None
    summary: str | None
    image: ArticleImage | None = None

    @classmethod
    def of(cls, article: Article) -> DigestItem:
        url = article.url if urlsplit(article.url).scheme.lower() in ("http", "https") else None
        summary = (article.summary or "").strip() or None
        image = articles.image_of(article)
        if image is not None and urlsplit(image.url).scheme.lower() != "https":
            image = None  # stored before the rule, or written past it: never into a mail
        return cls(title=" ".join(article.title.split()), url=url, summary=summary, image=image)

    @property
    def paragraphs(self) -> list[str]:
        """The summary's paragraphs (split at blank lines), each on one line."""
        return _paragraphs(self.summary)


def _paragraphs(text: str | None) -> list[str]:
    """Plain text's paragraphs (split at blank lines), each on one line."""
    if text is None:
        return []
    blocks = text.replace("\r\n", "\n").split("\n\n")
    return [" ".join(block.split()) for block in blocks if block.strip()]


@dataclass(frozen=True)
class Framing:
    """What a digest says around its articles: the admin's subject and intro paragraph, and
    how many more articles it carries than it shows (DIGEST_MAX_ARTICLES), with where they are."""

    subject: str | None = None
    intro: str | None = None
    more: int = 0
    #: The site the articles are on: the scheme and host of the newest one.
    site_url: str | None = None

    @property
    def intro_paragraphs(self) -> list[str]:
        return _paragraphs(self.intro)

    def subject_values(self, items: list[DigestItem]) -> dict[str, object]:
        """What the subject line names: the admin's subject, else the lead article and how
        many others the digest carries."""
        return {
            "custom_subject": self.subject,
            "lead": items[0].title if items else None,
            "others": max(0, len(items) - 1) + self.more,
        }


def shown(
    items: list[DigestItem], *, subject: str | None = None, intro: str | None = None
) -> tuple[list[DigestItem], Framing]:
    """The articles a digest shows (the newest DIGEST_MAX_ARTICLES of ``items``, newest first)
    and its framing."""
    limit = current_app.config["DIGEST_MAX_ARTICLES"]
    site = next((urlsplit(item.url) for item in items if item.url), None)
    site_url = f"{site.scheme}://{site.netloc}/" if site is not None else None
    return items[:limit], Framing(subject, intro, max(0, len(items) - limit), site_url)


def _items_of_digest(digest_id: int) -> list[DigestItem]:
    """A digest's articles, read once per app context (a sender renders many mails of one)."""
    cache: dict[int, list[DigestItem]] = g.setdefault("digest_items", {})
    if digest_id not in cache:
        cache[digest_id] = [DigestItem.of(article) for article in articles.of_digest(digest_id)]
    return cache[digest_id]


def list_id() -> str:
    """A human-readable List-Id (RFC 2919), e.g. ``"Site Newsletter" <newsletter.example.org>``.

    Beyond ASCII the phrase is left unquoted (an encoded word may not stand in quotes), without
    the characters that would end it early; the folding encodes only its words beyond ASCII,
    never the id in angle brackets, so filters still see the id."""
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    name = publisher.current().name
    if "newsletter" not in name.lower():
        name += " Newsletter"
    if name.isascii():
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = " ".join("".join(char for char in name if char not in _PHRASE_ENDS).split())
    return f"{phrase} <newsletter.{host}>"


#: Characters that end or break an unquoted phrase (RFC 5322 specials but the dot, which
#: obs-phrase allows).
_PHRASE_ENDS = frozenset('"\\<>()[]:;@,')


#: Marks mails sent because someone asked on the site, not by a person (RFC 3834): no
#: out-of-office replies to them.
TRANSACTIONAL = {"Auto-Submitted": "auto-generated"}


def _with_link(name: str, locale: str, link_name: str, link: str, **context: object) -> compose.Content:
    """The transactional mail ``email/<name>`` in ``locale`` with the reader's ``link`` as the
    template value ``link_name``. Rendered once per language for a sender's run (kept on ``g``)
    with a slot for the link, then filled per mail: a burst of sign-ups is thousands of
    confirmation mails that differ only in their link."""
    cache: dict[tuple, compose.Content] = g.setdefault("prepared_transactional", {})
    key = (name, locale, link_name, *sorted(context.items()))
    if key not in cache:
        slots = compose.Slots()
        content = compose.render(name, locale, slots=slots, **context, **{link_name: slots.marker(link_name)})
        content.headers.update(TRANSACTIONAL)
        cache[key] = content
    return cache[key].filled({link_name: link})


def feedback_id(digest_id: int) -> dict[str, str]:
    """Gmail's Feedback-ID (campaign:kind:sender): complaint rates per digest in Postmaster Tools."""
    return {"Feedback-ID": f"digest-{digest_id}:digest:newsletter:{compose.sender_domain()}"}


def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
    """The RFC 2369 and RFC 8058 headers: the one unsubscribe URL, and one-click by POST."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


#: Values that differ between a digest's readers; the digest is rendered once per language
#: with the markers of its :class:`compose.Slots` in their place.
_PERSONAL = ("email", "confirmed_on", "unsubscribe_url", "preferences_url")


def digest_content(
    items: list[DigestItem],
    locale: str,
    issued_at: datetime,
    *,
    confirmed: bool,
    framing: Framing = Framing(),
    digest_id: int | None = None,
) -> compose.Content:
    """The digest in ``locale`` with slots for the reader's values (fill with
    :func:`personal_values`). ``confirmed``: whether the reader's confirmation date is known;
    ``items``: the articles shown (:func:`shown`)."""
    slots = compose.Slots()
    content = compose.render(
        "digest",
        locale,
        slots=slots,
        issued_at=issued_at,
        articles=items,
        framing=framing,
        **framing.subject_values(items),
        test=False,
        **{name: slots.marker(name) for name in _PERSONAL if confirmed or name != "confirmed_on"},
    )
    unsubscribe_url = slots.marker("unsubscribe_url")
    content.headers.update({**unsubscribe_headers(unsubscribe_url), "List-Id": list_id()})
    if digest_id is not None:
        content.headers.update(feedback_id(digest_id))
    return content


def personal_values(
    locale: str, *, email: str, confirmed_at: datetime | None, unsubscribe_url: str, preferences_url: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(values for the text part, values that differ in the HTML part) for one reader."""
    values = {"email": email, "unsubscribe_url": unsubscribe_url, "preferences_url": preferences_url}
    html_values = {}
    if confirmed_at is not None:
        date = _long_date(locale, confirmed_at)
        values["confirmed_on"] = date.replace(" ", "\u00a0")  # keep the date on one line of text
        html_values["confirmed_on"] = str(escape(date))
    return values, html_values


def _long_date(locale: str, moment: datetime) -> str:
    """``moment`` as a long date in ``locale``; many readers share a day, so kept on ``g``."""
    cache: dict[tuple, str] = g.setdefault("long_dates", {})
    key = (locale, moment.date())  # format_date shows the date alone
    if key not in cache:
        with force_locale(locale):
            cache[key] = format_date(moment, "long")
    return cache[key]


class DigestMail:
    """A digest to one subscriber: the articles, why they get it, how to leave (COMPLIANCE 53)."""

    def recipient(self, delivery: Mail) -> str | None:
        return delivery.subscriber.email

    def eligible(self, delivery: Mail) -> bool:
        # Withdrawal, suspension or erasure after the digest was queued cancels the mail.
        subscriber = delivery.subscriber
        return subscriber.email is not None and subscriber.status is SubscriberStatus.CONFIRMED

    def content(self, delivery: Mail) -> compose.Content:
        subscriber = delivery.subscriber
        confirmed = subscriber.confirmed_at is not None
        prepared = _prepared_digest(delivery.digest_id, subscriber.locale, confirmed)
        values, html_values = personal_values(
            subscriber.locale,
            email=subscriber.email,
            confirmed_at=subscriber.confirmed_at,
            unsubscribe_url=_token_url("public.unsubscribe", tokens.make_unsubscribe_token(subscriber)),
            preferences_url=_token_url("public.preferences", tokens.make_preferences_token(subscriber)),
        )
        return prepared.filled(values, html_values)


def _token_url(endpoint: str, token: str) -> str:
    """``external_url(endpoint, token=token)``, with the rest of the link built once per run."""
    builders = g.setdefault("token_url_builders", {})
    if endpoint not in builders:
        builders[endpoint] = token_url_builder(endpoint)
    return builders[endpoint](token)


def _prepared_digest(digest_id: int, locale: str, confirmed: bool) -> compose.Content:
    """The digest rendered once per language for a sender's run (kept on ``g``)."""
    cache: dict[tuple, compose.Content] = g.setdefault("prepared_digests", {})
    key = (digest_id, locale, confirmed)
    if key not in cache:
        issue = db.session.get(Digest, digest_id)
        items, framing = shown(_items_of_digest(digest_id), subject=issue.custom_subject, intro=issue.intro)
        cache[key] = digest_content(
            items, locale, issue.created_at, confirmed=confirmed, framing=framing, digest_id=digest_id
        )
    return cache[key]


class DigestTestMail:
    """A preview of the next digest, to the address an admin chose; it goes to no subscriber,
    so it carries no unsubscribe link and no one-click header."""

    def recipient(self, delivery: Mail) -> str | None:
        return delivery.to_address

    def eligible(self, delivery: Mail) -> bool:
        # An erased address is never mailed again, not even a preview an admin sends it.
        address = delivery.to_address
        return address is not None and not suppression.is_suppressed(address)

    def content(self, delivery: Mail) -> compose.Content:
        locale = delivery.context.get("locale") or current_app.config["LANGUAGES"][0]
        items, framing = shown([DigestItem.of(article) for article in articles.undigested()])
        content = compose.render(
            "digest",
            locale,
            issued_at=clock.now(),
            articles=items,
            framing=framing,
            **framing.subject_values(items),
            email=delivery.to_address,
            test=True,
        )
        content.headers["List-Id"] = list_id()
        return content


class PreferencesLinkMail:
    """A fresh link to the preferences page, asked for on the site: neutral, no advertising.

    The link is made at sending, so its lifetime starts then and no working link waits in
    the queue."""

    def recipient(self, delivery: Mail) -> str | None:
        return delivery.subscriber.email

    def eligible(self, delivery: Mail) -> bool:
        subscriber = delivery.subscriber
        return subscriber.email is not None and subscriber.status is not SubscriberStatus.ERASED

    def content(self, delivery: Mail) -> compose.Content:
        subscriber = delivery.subscriber
        return _with_link(
            "preferences_link",
            delivery.context.get("locale") or subscriber.locale,
            "preferences_url",
            _token_url("public.preferences", tokens.make_preferences_token(subscriber)),
            max_age_days=current_app.config["PREFERENCES_MAX_AGE_DAYS"],
        )


class AdminInviteMail:
    """An invitation to the admin area: the set-password link, made at sending (so its
    lifetime starts then), for as long as the invited admin exists and has no password."""

    def recipient(self, delivery: Mail) -> str | None:
        return delivery.to_address

    def eligible(self, delivery: Mail) -> bool:
        admin = db.session.get(AdminUser, delivery.context.get("admin_id"))
        return admin is not None and admin.email == delivery.to_address and not admin.password_hash

    def content(self, delivery: Mail) -> compose.Content:
        admin = db.session.get(AdminUser, delivery.context["admin_id"])
        return compose.render(
            "admin_invite",
            delivery.context.get("locale") or current_app.config["LANGUAGES"][0],
            set_password_url=external_url("admin.set_password", token=tokens.make_admin_password_token(admin)),
            max_age_days=tokens.ADMIN_PASSWORD_MAX_AGE.days,
            role=admin.role.value,
        )


SPECS: dict[MailKind, MailSpec] = {
    MailKind.CONFIRM: ConfirmMail(),
    MailKind.DIGEST: DigestMail(),
    MailKind.DIGEST_TEST: DigestTestMail(),
    MailKind.PREFERENCES_LINK: PreferencesLinkMail(),
    MailKind.ADMIN_INVITE: AdminInviteMail(),
}

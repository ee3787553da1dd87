"""Signing up, whichever way the reader came (SPEC §3, §8): the hosted form, the plain form
on a publisher's page, the iframe, the widget and the public API all end here, so the
honeypot, the consent wording and the evidence are decided once.

Nothing here tells whether the address is known: the request is only written down
(:func:`newsletter.address_requests.submit_sign_up`); the worker applies the DOI cap and
queues the mail. Flushes, never commits.
"""

from __future__ import annotations

from . import address_requests, wording
from .models import ConsentChannel
from .wording import Wording


def sign_up(
    email: str,
    *,
    consent_version: str,
    language: str,
    channel: ConsentChannel,
    ip: str | None,
    user_agent: str | None,
    source_url: str | None = None,
    honeypot: str | None = None,
) -> Wording | None:
    """Write down a sign-up of ``email`` (normalised) that consents to the wording whose
    SHA-256 is ``consent_version``; None when done (or, for a filled ``honeypot``, silently
    ignored: the caller gives the same answer).

    When the wording is not one the reader can have seen, nothing is written and the current
    wording in ``language`` is returned, to be shown again. On our own form that is a version
    we showed in ``language`` (a page loaded before a change still names what it showed); on a
    publisher's page, which shows whatever its snippet holds, only the current wording counts.
    """
    if honeypot:  # a bot filled the hidden field: same answer, nothing done
        return None
    text = _seen_wording(consent_version, language, current_only=channel is not ConsentChannel.FORM)
    if text is None:
        return wording.current(language)
    address_requests.submit_sign_up(
        email, text=text, locale=language, ip=ip, user_agent=user_agent, channel=channel, source_url=source_url
    )
    return None


def _seen_wording(version: str, language: str, *, current_only: bool) -> Wording | None:
    if current_only and not wording.is_current(version, language):
        return None
    text = wording.find(version)
    if text is None or text.language != language:
        return None
    return text


def language_of(consent_version: str, fallback: str) -> str:
    """The language of the wording ``consent_version`` names, if it is one we showed."""
    text = wording.find(consent_version)
    return text.language if text is not None else fallback

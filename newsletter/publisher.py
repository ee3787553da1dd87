"""Who publishes: the name, postal line, imprint, privacy notice, logo and colour that every page
and every mail's footer show (SPEC §2; § 5 DDG expects the imprint in commercial mail).

The settings are checked at start (:func:`problems`, called by :mod:`newsletter.settings`), and
outside debug a warning names each one still at its default (:func:`warn_about_defaults`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app

logger = logging.getLogger(__name__)

#: config.py's SITE_NAME: a placeholder, so texts that would name the publisher use neutral
#: wording instead ("this newsletter", not "the newsletter of Newsletter").
DEFAULT_SITE_NAME = "Newsletter"
DEFAULT_SENDER = "Newsletter <newsletter@localhost>"
#: The accent colour without BRAND_COLOR.
DEFAULT_ACCENT = "#1f5fbf"
_INK = "#1d2330"
_WHITE = "#ffffff"

_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_URL_KEYS = ("IMPRINT_URL", "PRIVACY_URL")


@dataclass(frozen=True)
class Publisher:
    name: str
    #: Whether SITE_NAME names the publisher (not the placeholder).
    named: bool
    #: The postal line, e.g. "Beispiel GmbH, Musterstraße 1, 10115 Berlin"; "" when unset.
    address: str
    imprint_url: str | None
    #: The operator's own privacy notice; None: the built-in page.
    privacy_url: str | None
    #: An https URL.
    logo_url: str | None
    #: ``#rrggbb`` (or ``#rgb``).
    accent: str

    @property
    def on_accent(self) -> str:
        """Text colour on the accent: white, or dark ink on a light accent (WCAG contrast)."""
        return _WHITE if _contrast(self.accent, _WHITE) >= _contrast(self.accent, _INK) else _INK

    @property
    def logo_origin(self) -> str | None:
        """``https://host[:port]`` of the logo, for the pages' Content-Security-Policy."""
        if not self.logo_url:
            return None
        parts = urlsplit(self.logo_url)
        return f"https://{parts.netloc}"


def of(config: Mapping) -> Publisher:
    name = " ".join(str(config.get("SITE_NAME") or "").split())
    return Publisher(
        name=name or DEFAULT_SITE_NAME,
        named=bool(name) and name != DEFAULT_SITE_NAME,
        address=" ".join(str(config.get("SITE_ADDRESS") or "").split()),
        imprint_url=config.get("IMPRINT_URL") or None,
        privacy_url=config.get("PRIVACY_URL") or None,
        logo_url=config.get("LOGO_URL") or None,
        accent=(config.get("BRAND_COLOR") or DEFAULT_ACCENT).lower(),
    )


def current() -> Publisher:
    """The publisher of the current app, as configured now."""
    return of(current_app.config)


def problems(config: Mapping) -> list[str]:
    """What is wrong with the publisher's settings, one sentence each (empty when all is well)."""
    found = []
    for key in _URL_KEYS:
        value = config.get(key)
        if value and not _is_web_url(value, ("http", "https")):
            found.append(f"{key} must be an absolute http:// or https:// URL, got {value!r}")
    logo = config.get("LOGO_URL")
    if logo and not _is_web_url(logo, ("https",)):
        found.append(f"LOGO_URL must be an absolute https:// URL (mails and pages load it), got {logo!r}")
    color = config.get("BRAND_COLOR")
    if color and not (isinstance(color, str) and _COLOR.fullmatch(color)):
        found.append(f"BRAND_COLOR must be a colour like #1f5fbf, got {color!r}")
    return found


def _is_web_url(value: object, schemes: tuple[str, ...]) -> bool:
    if not isinstance(value, str) or any(char.isspace() or char in "\"'<>\\" for char in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (ValueError for a port that is not a number)
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.hostname)


def init_app(app: Flask) -> None:
    """Every template sees ``publisher``; outside debug, the defaults still in use are named."""
    app.context_processor(lambda: {"publisher": current()})
    warn_about_defaults(app)


def warn_about_defaults(app: Flask) -> None:
    """Outside debug and tests: one warning for each identity setting still at its default."""
    if app.debug or app.testing:
        return
    config = app.config
    publisher = of(config)
    if not publisher.named:
        logger.warning(
            "SITE_NAME is not set: pages and mails cannot name the publisher. Set NEWSLETTER_SITE_NAME"
            " to your name or your shop's (README, Running in production)."
        )
    if not publisher.address and not publisher.imprint_url:
        logger.warning(
            "Neither SITE_ADDRESS nor IMPRINT_URL is set: mails and pages show no postal address and no"
            " imprint (Impressum), which commercial mail needs in Germany (§ 5 DDG). Set"
            " NEWSLETTER_IMPRINT_URL and/or NEWSLETTER_SITE_ADDRESS."
        )
    if str(config.get("MAIL_DEFAULT_SENDER") or "") in ("", DEFAULT_SENDER):
        logger.warning(
            "MAIL_DEFAULT_SENDER is the default %r: mail from it is refused or lands in spam. Set"
            " NEWSLETTER_MAIL_DEFAULT_SENDER, e.g. \"Beispiel Shop <news@example.org>\".",
            DEFAULT_SENDER,
        )


def _contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(color: str) -> float:
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(char * 2 for char in digits)
    channels = [int(digits[index : index + 2], 16) / 255 for index in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

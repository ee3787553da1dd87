"""Email addresses: the one rule for what an address is and how it is stored
(:func:`normalise_email`, used by the forms, the importer, the CLI and the services alike),
and how it goes on the wire (:func:`wire_address`)."""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

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
        # beyond ASCII are fine (kept as typed, sent in their IDNA form: :func:`wire_address`).
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


def wire_address(address: str) -> str:
    """``address`` as it goes into the envelope and the To header: a domain beyond ASCII in
    its IDNA form (``anna@bücher.de`` → ``anna@xn--bcher-kva.de``).

    :raises ValueError: the mailbox name is beyond ASCII (sign-up and import refuse those).
    """
    if address.isascii():
        return address
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).ascii_email
    except EmailNotValidError as exc:
        raise ValueError(f"cannot send to {address!r}: {exc}") from exc

"""Address normalisation: the quick path for plain addresses agrees with email_validator."""

from __future__ import annotations

import random
import string

import pytest
from email_validator import EmailNotValidError, validate_email

from newsletter.addresses import _is_plain, normalise_email

HANDPICKED = [
    "ann@example.org", "Ann.Example@Example.ORG", " bob@example.org ", "a.b-c+d@sub.example.co.uk",
    "x@example.c", "x@example.123", "x@123.example", "x@-example.org", "x@example-.org",
    "x@ex--ample.org", "x@xn--mnchen-3ya.de", "x@example.test", "x@printer.local", "x@localhost",
    "x@example", ".x@example.org", "x.@example.org", "x..y@example.org", "x@example..org",
    "\"quoted\"@example.org", "jörg@example.de", "x@münchen.de", "x@[192.0.2.1]", "x@example.org.",
    "a" * 64 + "@example.org", "a" * 65 + "@example.org", "x@" + "a" * 63 + ".org", "x@" + "a" * 64 + ".org",
    "x@" + ".".join(["a" * 60] * 4) + ".org", "o'brien@example.ie", "{tag}@example.org", "x@exa_mple.org",
    "x@example.onion", "x@sub.invalid", "x@example.arpa", "x y@example.org", "x@example.org\n",
]


def random_addresses(count: int) -> list[str]:
    rng = random.Random(4)
    local_chars = string.ascii_letters + string.digits + ".-+_'!#&*=?~"
    domain_chars = string.ascii_lowercase + string.digits + ".-"
    return [
        "".join(rng.choices(local_chars, k=rng.randint(1, 12)))
        + "@" + "".join(rng.choices(domain_chars, k=rng.randint(1, 14)))
        + rng.choice(["", ".de", ".org", ".t", ".d3", ".-x"])
        for _ in range(count)
    ]


def disagreement(address: str) -> str | None:
    """What the quick path does differently from email_validator for ``address``, if anything."""
    quick = _is_plain(address.strip().lower())
    try:
        expected = validate_email(
            address.strip(), check_deliverability=False, allow_smtputf8=False
        ).normalized.lower()
    except EmailNotValidError:
        if quick:
            return "the quick path accepts what email_validator refuses"
        try:
            normalise_email(address)
        except ValueError:
            return None
        return "normalise_email accepts what email_validator refuses"
    if quick and address.strip().lower() != expected:
        return f"the quick path gives {address.strip().lower()!r}, email_validator {expected!r}"
    if normalise_email(address) != expected:
        return f"normalise_email gives {normalise_email(address)!r}, email_validator {expected!r}"
    return None


def test_the_quick_path_takes_only_what_email_validator_accepts_unchanged():
    addresses = HANDPICKED + random_addresses(3000)
    problems = {address: problem for address in addresses if (problem := disagreement(address))}
    assert problems == {}
    assert sum(_is_plain(a.strip().lower()) for a in addresses) > 1000  # the comparison covers the quick path


def test_the_quick_path_covers_ordinary_addresses():
    assert all(_is_plain(a) for a in ("ann@example.org", "a.b-c+d@sub.example.co.uk", "reader9@bench.example"))


def test_a_mailbox_name_beyond_ascii_is_refused_a_domain_beyond_ascii_is_kept():
    with pytest.raises(ValueError, match="before the @-sign"):
        normalise_email("jörg@example.de")
    assert normalise_email("Anna@Bücher.de") == "anna@bücher.de"

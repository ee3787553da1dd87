"""DKIM signing (RFC 6376, SPEC §10): rsa-sha256, relaxed/relaxed, per mail after composition.

The key is read once, when the app is made (:func:`init_app`): an unreadable file, a key that
is not RSA or one under 2048 bits stops the start with a message naming DKIM_PRIVATE_KEY_FILE.
The signature covers the headers of :data:`SIGNED_HEADERS` (List-Unsubscribe-Post included:
RFC 8058 §3.1 asks for both unsubscribe headers under a valid signature; named even in mails
without them, which signs their absence, so nobody can add them on the way) and the body's hash.

Mails are written by :func:`.compose.build_message` with CRLF line ends, no trailing white space
and no runs of it in the body, so the relaxed body canonicalisation leaves a body as it is (it
is checked, and done properly where that does not hold). A digest's body differs per reader
from its first part on (each part carries the reader's links), so there is no shared body hash
to reuse; hashing 10 KB costs a few µs against a quarter of a millisecond for the RSA operation
(``cryptography``, OpenSSL).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from ..settings import ConfigError
from .compose import RawMail

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

# cryptography is imported where a key is read or used, not above: most installations sign
# nothing, and importing it costs every process (web, worker, each CLI command) about 40 ms.

#: Signed in this order, lower-case as RFC 6376 §3.4.2 compares them.
SIGNED_HEADERS = (
    "from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post", "list-id",
    "mime-version", "content-type",
)
MIN_KEY_BITS = 2048
_KEYS = ("DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_FILE")
_RUNS = re.compile(rb"[ \t]+")
_TRAILING = re.compile(rb"[ \t]+\r\n")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_WSP = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Signer:
    domain: str
    selector: str
    key: rsa.RSAPrivateKey

    def sign(self, mail: RawMail, now: datetime) -> RawMail:
        """``mail`` with a DKIM-Signature header on top."""
        head, _, body = mail.data.partition(b"\r\n\r\n")
        fields = _fields(head.decode("ascii"))
        names = [name for name in SIGNED_HEADERS if name in fields or name.startswith("list-unsubscribe")]
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode("ascii")
        tags = (
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={self.domain}; s={self.selector};\r\n"
            f"\tt={int(now.timestamp())}; h={':'.join(names)};\r\n\tbh={body_hash};\r\n\tb="
        )
        signed = "".join(_relaxed_header(name, fields[name]) for name in names if name in fields)
        signed += _relaxed_header("dkim-signature", tags)[:-2]  # without its CRLF (RFC 6376 §3.7)
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = self.key.sign(signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        value = base64.b64encode(signature).decode("ascii")
        folded = "\r\n\t".join(value[start : start + 72] for start in range(0, len(value), 72))
        return replace(mail, data=f"DKIM-Signature: {tags}{folded}\r\n".encode("ascii") + mail.data)

    def dns_record(self) -> str:
        """The TXT record to publish, in zone-file form (strings of at most 255 characters)."""
        from cryptography.hazmat.primitives import serialization

        public = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        value = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"
        strings = " ".join(f'"{value[start : start + 255]}"' for start in range(0, len(value), 255))
        return f"{self.selector}._domainkey.{self.domain}. IN TXT ( {strings} )"


def init_app(app: Flask) -> None:
    """Read the key once, if DKIM is configured; :class:`ConfigError` for one that cannot sign."""
    app.extensions["dkim"] = load(app.config)


def signer(app: Flask) -> Signer | None:
    return app.extensions.get("dkim")


def load(config) -> Signer | None:
    """The configured signer; None when DKIM_* are not set.

    :raises ConfigError: only some of DKIM_* are set, or the key cannot sign (unreadable, not
        an unencrypted PEM RSA key, shorter than 2048 bits)."""
    given = [key for key in _KEYS if config.get(key)]
    if not given:
        return None
    if len(given) != len(_KEYS):
        missing = ", ".join(key for key in _KEYS if key not in given)
        raise ConfigError(
            f"DKIM needs DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE together; {missing} not set"
        )
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = Path(config["DKIM_PRIVATE_KEY_FILE"])
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"DKIM_PRIVATE_KEY_FILE {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"DKIM_PRIVATE_KEY_FILE {str(path)!r} is no unencrypted PEM private key"
            " (make one: openssl genrsa -out dkim.pem 2048)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"DKIM_PRIVATE_KEY_FILE {str(path)!r} is no RSA key (rsa-sha256 needs one)")
    if key.key_size < MIN_KEY_BITS:
        raise ConfigError(
            f"DKIM_PRIVATE_KEY_FILE {str(path)!r} holds a {key.key_size}-bit RSA key; at least {MIN_KEY_BITS}"
            " bits are needed (receivers treat shorter ones as no signature)"
        )
    return Signer(str(config["DKIM_DOMAIN"]).strip().lower(), str(config["DKIM_SELECTOR"]).strip(), key)


def _fields(head: str) -> dict[str, str]:
    """The header block's fields by lower-case name (the last one of a name: the one signed),
    each value with its folding as written."""
    fields: dict[str, str] = {}
    for line in _FOLD.sub("\x00", head).split("\r\n"):
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.replace("\x00", "\r\n")
    return fields


def _relaxed_header(name: str, value: str) -> str:
    """RFC 6376 §3.4.2: lower-case name, value unfolded, runs of white space one space, trimmed."""
    value = _WSP.sub(" ", value.replace("\r\n", "")).strip()
    return f"{name}:{value}\r\n"


def _relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4; a body as :mod:`.compose` writes it is left as it is."""
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        body = _RUNS.sub(b" ", _TRAILING.sub(b"\r\n", body))
    while body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body if body != b"\r\n" else b""

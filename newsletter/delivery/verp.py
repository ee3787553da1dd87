"""VERP (SPEC §10): with BOUNCE_ADDRESS ``bounces@example.org`` every mail's envelope sender is
``bounces+<token>@example.org``, the token naming the mail's delivery, so a bounce names the
mail it is about whatever the remote server wrote into it.

The token is ``<delivery id in base 36>-<signature>``: the signature is 80 bits of an HMAC-SHA256
under a key derived by itsdangerous from SECRET_KEY with this purpose's own salt (older keys of
SECRET_KEY_FALLBACKS still verify), written in lower-case base 32, so a server that changes the
case of the local part breaks nothing and nobody can forge one to charge a bounce to a reader.
At most 30 characters: BOUNCE_ADDRESS's local part may have 33, the 64 of RFC 5321 in all.

A pure helper: no app, no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from itsdangerous import Signer

#: This purpose's itsdangerous salt (never shared with a link token's).
SALT = "verp-envelope"
#: The longest local part BOUNCE_ADDRESS may have: the token and its "+" fill the rest of 64.
MAX_LOCAL_LENGTH = 64 - 1 - 13 - 1 - 16
_TOKEN = re.compile(r"([0-9a-z]{1,13})-([a-z2-7]{16})")


class Verp:
    """Makes and reads the VERP addresses of one BOUNCE_ADDRESS."""

    def __init__(self, bounce_address: str, secret_keys: Sequence[str]) -> None:
        """``secret_keys``: SECRET_KEY_FALLBACKS then SECRET_KEY (the last one signs)."""
        local, _, domain = bounce_address.strip().rpartition("@")
        self.bounce_address = f"{local}@{domain}".lower()
        self._prefix = f"{local}+".lower()
        self._suffix = f"@{domain}".lower()
        self._keys = [Signer(key, salt=SALT, digest_method=hashlib.sha256).derive_key() for key in secret_keys]

    def address(self, delivery_id: int) -> str:
        """The envelope sender of the mail of ``delivery_id``."""
        return f"{self._prefix}{self.token(delivery_id)}{self._suffix}"

    def token(self, delivery_id: int) -> str:
        name = _base36(delivery_id)
        return f"{name}-{_signature(self._keys[-1], name)}"

    def delivery_id(self, address: str) -> int | None:
        """The delivery a VERP address of ours names; None for any other address."""
        address = address.strip().strip("<>").lower()
        if not (address.startswith(self._prefix) and address.endswith(self._suffix)):
            return None
        match = _TOKEN.fullmatch(address[len(self._prefix) : len(address) - len(self._suffix)])
        if match is None:
            return None
        name, signature = match.groups()
        if not any(hmac.compare_digest(_signature(key, name), signature) for key in self._keys):
            return None
        return int(name, 36)

    def accepts(self, address: str) -> bool:
        """Whether reports to ``address`` are ours: BOUNCE_ADDRESS itself or a genuine VERP address."""
        return address.strip().strip("<>").lower() == self.bounce_address or self.delivery_id(address) is not None


def from_config(config: Mapping) -> Verp | None:
    """The VERP of the app's BOUNCE_ADDRESS; None when it is not set (MAIL FROM is the sender)."""
    if not config.get("BOUNCE_ADDRESS"):
        return None
    return Verp(config["BOUNCE_ADDRESS"], (*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]))


def address_problem(address: object) -> str | None:
    """Why ``address`` cannot be BOUNCE_ADDRESS; None when it can."""
    if not isinstance(address, str) or address.count("@") != 1:
        return "must be one address such as bounces@example.org"
    local, domain = address.split("@")
    if not local or not domain or "+" in local or not address.isascii() or any(c.isspace() for c in address):
        return "must be a plain ASCII address without '+' (the '+<token>' is added per mail)"
    if len(local) > MAX_LOCAL_LENGTH:
        return f"its local part may have at most {MAX_LOCAL_LENGTH} characters (the token takes the rest of 64)"
    return None


def _signature(key: bytes, name: str) -> str:
    return base64.b32encode(hmac.digest(key, name.encode("ascii"), "sha256")[:10]).decode("ascii").lower()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text

"""RSA keys for DKIM, made by the test (never shipped)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@cache
def _pem(bits: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def rsa_key_file(folder: Path, bits: int = 2048) -> str:
    """A PEM file of an RSA key of ``bits`` in ``folder`` (one key per size and test run)."""
    path = folder / f"dkim-{bits}.pem"
    path.write_bytes(_pem(bits))
    return str(path)


def txt_record(zone_line: str) -> bytes:
    """The TXT value of a zone-file line such as ``flask dkim-record`` prints (its strings joined)."""
    return "".join(zone_line.split('"')[1::2]).encode("ascii")

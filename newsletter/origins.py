"""Web origins (``scheme://host[:port]``) as the browser's ``Origin`` header names them.

Pure helpers: no app, no request. Two spellings of one origin compare equal once normalised:
scheme and host lower-cased, the scheme's default port left out.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: A host name or IPv4 address (no wildcard), or an IPv6 literal as urlsplit gives it.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")


def normalise_origin(text: str) -> str | None:
    """``text`` as an origin (``https://www.example.de``, ``http://127.0.0.1:8080``), or None
    when it is none: another scheme, user info, a path beyond ``/``, a query or a fragment."""
    parts = _split(text)
    if parts is None or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return _origin(parts)


def origin_of(url: str) -> str | None:
    """The origin of an http(s) URL (a Referer, a page address), or None."""
    parts = _split(url)
    return None if parts is None else _origin(parts)


def _split(text: str):
    if not isinstance(text, str) or not text.isascii() or any(c.isspace() for c in text):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a port beyond 65535, an unreadable IPv6 literal
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or "@" in parts.netloc:
        return None
    if not parts.hostname or not _HOST.fullmatch(parts.hostname):
        return None
    if port is not None and port == 0:
        return None
    return parts


def _origin(parts) -> str:
    scheme, host, port = parts.scheme.lower(), parts.hostname.lower(), parts.port
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"

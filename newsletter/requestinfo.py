"""Who the client of the current request is: for the evidence and for every per-client limit.

Behind reverse proxies, :func:`init_app` lets Werkzeug's ProxyFix take the client's address
(and scheme) from the last PROXY_FIX_X_FOR (PROXY_FIX_X_PROTO) hops the proxies appended;
without it, X-Forwarded-* headers are ignored, since any client can write them.
"""

from __future__ import annotations

import ipaddress

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    x_for, x_proto = app.config["PROXY_FIX_X_FOR"], app.config["PROXY_FIX_X_PROTO"]
    if x_for or x_proto:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=x_for, x_proto=x_proto, x_host=0, x_port=0, x_prefix=0)


def client_ip() -> str | None:
    """The client's IP address; the peer's when the forwarded value is no address at all
    (a garbled header must neither reach the evidence nor make a fresh limit bucket)."""
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    for candidate in (request.remote_addr, peer):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def client_key() -> str:
    """The key of the client's bucket in every per-client limit."""
    return client_ip() or "unknown"


def user_agent() -> str | None:
    return request.headers.get("User-Agent") or None


def has_line_breaks() -> bool:
    """Whether any submitted field carries CR or LF (header injection; COMPLIANCE item 44)."""
    return any("\r" in value or "\n" in value for value in request.form.values())

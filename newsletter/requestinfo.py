"""What the evidence may record about the client of the current request."""

from __future__ import annotations

from flask import request


def client_ip() -> str | None:
    return request.remote_addr


def user_agent() -> str | None:
    return request.headers.get("User-Agent") or None


def has_line_breaks() -> bool:
    """Whether any submitted field carries CR or LF (header injection; COMPLIANCE item 44)."""
    return any("\r" in value or "\n" in value for value in request.form.values())

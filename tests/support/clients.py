"""Browsers in tests: a test client per client address, and the session cookie a browser keeps."""

from __future__ import annotations

from flask import Flask

COOKIE = "session"


def client_from(app: Flask, ip: str):
    """A test client whose every request comes from ``ip``, as from its own browser."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def session_cookie(client) -> str:
    """The value of the client's session cookie, as someone copying it would take it."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "the client holds no session cookie"
    return cookie.value


def client_with_cookie(app: Flask, value: str, ip: str = "127.0.0.1"):
    """A fresh browser (no history of its own) sending a copied session cookie."""
    client = client_from(app, ip)
    client.set_cookie(COOKIE, value)
    return client


def session_data(app: Flask, value: str) -> dict:
    """What a session cookie carries (it is signed, not encrypted: anyone holding it can read it)."""
    return app.session_interface.get_signing_serializer(app).loads(value)

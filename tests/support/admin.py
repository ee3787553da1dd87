"""Signing in to the admin area from tests, the way a browser does (CSRF token included)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask

from newsletter import admins
from newsletter.extensions import db
from tests.support.visitor import hidden_fields

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "lange-Wurst-am-Fenster-7"


def create_admin(app: Flask, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    with app.app_context():
        admins.create_or_reset(email, password)
        db.session.commit()


def csrf_token(client, path: str = "/admin/login") -> str:
    """A CSRF token for the client's session, taken from a page's form like a browser would."""
    return hidden_fields(client.get(path).get_data(as_text=True))["csrf_token"]


def sign_in(
    client, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, *, next: str | None = None, **kwargs
):
    """GET the login page, then POST it; returns the POST's response (not followed)."""
    path = "/admin/login" if next is None else "/admin/login?" + _query(next=next)
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "email": email, "password": password}, **kwargs)


def post(client, path: str, data: dict | None = None, *, form_page: str | None = None, **kwargs):
    """POST to an admin URL with the CSRF token of the client's session."""
    token = csrf_token(client, form_page or "/admin/")
    return client.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)


def _query(**values: str) -> str:
    return urlencode(values)

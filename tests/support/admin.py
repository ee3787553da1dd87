"""Signing in to the admin area from tests, the way a browser does (CSRF token included)."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from flask import Flask

from newsletter import admins
from newsletter.extensions import db
from newsletter.models import AdminRole
from tests.support.visitor import hidden_fields

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "lange-Wurst-am-Fenster-7"


EDITOR_EMAIL = "editor@example.org"


def create_admin(
    app: Flask, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, role: AdminRole | None = None
) -> None:
    with app.app_context():
        admins.create_or_reset(email, password, role)
        db.session.commit()


def csrf_token(client, path: str = "/admin/login") -> str:
    """A CSRF token for the client's session, taken from a page's form like a browser would."""
    return hidden_fields(client.get(path).get_data(as_text=True))["csrf_token"]


def sign_in(client, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, *, next: str | None = None, **kwargs):
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


def send_now(client, fields: dict | None = None, *, leave_out: tuple[str, ...] = (), **kwargs):
    """Press Send now as a browser does: the articles ticked on the page (all but the titles in
    ``leave_out``), with the subject and intro in ``fields``; returns the POST's response."""
    page = client.get("/admin/digests/send-now", headers={"Accept-Language": "en"}).get_data(as_text=True)
    ticked = [
        article_id
        for article_id, title in re.findall(r'name="article" value="(\d+)" checked> ([^<]*)</label>', page)
        if html.unescape(title.strip()) not in leave_out
    ]
    data = {"csrf_token": hidden_fields(page)["csrf_token"], "article": ticked, **(fields or {})}
    return client.post("/admin/digests/send-now", data=data, **kwargs)

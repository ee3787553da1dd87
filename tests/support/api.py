"""The admin API (SPEC §9) from a test: tokens of either scope, and requests carrying them."""

from __future__ import annotations

from flask import Flask

from newsletter import apitokens
from newsletter.extensions import db
from newsletter.models import ApiScope


def create_token(app: Flask, name: str = "crm", scope: str = "write") -> str:
    """A new token, committed; the token itself."""
    with app.app_context():
        token = apitokens.create(name, ApiScope(scope))
        db.session.commit()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class ApiClient:
    """The test client with one token on every request."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = bearer(token)

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return self.client.post(path, json=json, headers=self.headers, **kwargs)

    def put(self, path: str, json=None):
        return self.client.put(path, json=json, headers=self.headers)

    def delete(self, path: str):
        return self.client.delete(path, headers=self.headers)

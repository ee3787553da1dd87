"""The public pages as a browser uses them (hidden form fields included), and the links a
reader finds in the mails."""

from __future__ import annotations

import re

from newsletter import address_requests

_FIELD = re.compile(r'name="(?P<name>[^"]+)"[^>]*?value="(?P<value>[^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (CSRF token, consent version), as a browser would send them."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag:
            match = _FIELD.search(tag)
            if match:
                fields[match["name"]] = match["value"]
    return fields


class Visitor:
    """Drives the public pages through the test client the way a browser would."""

    def __init__(self, client, language: str = "de") -> None:
        self.client = client
        self.headers = {"Accept-Language": language, "User-Agent": "Mozilla/5.0 (pytest)"}

    def sign_up(self, email: str, **extra):
        """Sign up through the form; the worker then carries the request out (its mail is queued)."""
        page = self.client.get("/subscribe", headers=self.headers)
        data = {**hidden_fields(page.get_data(as_text=True)), "email": email, "website": "", **extra}
        response = self.client.post("/subscribe", data=data, headers=self.headers)
        carry_out_requests(self.client.application)
        return response

    def confirm(self, url_or_token: str):
        path = "/confirm/" + url_or_token.rsplit("/confirm/", 1)[-1]
        page = self.client.get(path, headers=self.headers)
        fields = hidden_fields(page.get_data(as_text=True))
        if "csrf_token" not in fields:  # an error page, or nothing left to confirm
            return page
        return self.client.post(path, data=fields, headers=self.headers)


def carry_out_requests(app) -> None:
    """What the worker does next with the requests the pages wrote down (sign-ups, preferences
    links): record them and queue their mails."""
    with app.app_context():
        address_requests.carry_out()


def confirm_link(message) -> str:
    """The /confirm/ link of a DOI mail."""
    body = message.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/confirm/\S+", body).group(0)


def link_in(message, path: str) -> str:
    """The path (from ``/``) of the first link to ``path`` in the mail's text part."""
    body = message.get_body(("plain",)).get_content()
    return re.search(rf"https?://[^/\s]+(/{path}/\S+)", body).group(1)

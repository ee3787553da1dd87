"""Whole journeys through the public pages, for tests that need a subscriber with a history.

Mail goes through the app's sender (``sender.drain``) to whatever transport the test set up:
the in-memory outbox or the loopback SMTP server. Pass the list the messages land in.
"""

from __future__ import annotations

import re

from flask import Flask

from newsletter import subscribers
from newsletter.delivery import sender
from newsletter.models import Subscriber
from tests.conftest import Visitor, confirm_link


def drain(app: Flask) -> None:
    with app.app_context():
        sender.drain()


def sign_up_and_confirm(app: Flask, visitor: Visitor, messages: list, email: str) -> int:
    """Sign ``email`` up through the form and confirm it with the link from its mail; its id."""
    visitor.sign_up(email)
    drain(app)
    response = visitor.confirm(confirm_link(_last_to(messages, email)))
    assert response.status_code == 200, response.get_data(as_text=True)
    return subscriber_id(app, email)


def subscriber_id(app: Flask, email: str) -> int:
    with app.app_context():
        found: Subscriber | None = subscribers.find_by_email(email)
        assert found is not None, email
        return found.id


def _last_to(messages: list, email: str):
    return [message for message in messages if email in str(message["To"])][-1]


def link_in(message, path: str) -> str:
    """The path (from ``/``) of the first link to ``path`` in the mail's text part."""
    body = message.get_body(("plain",)).get_content()
    return re.search(rf"https?://[^/\s]+(/{path}/\S+)", body).group(1)

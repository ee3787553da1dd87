"""Building messages: a rendering filled for many readers gives each the right bytes."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsletter.delivery import compose

WHEN = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def rendering() -> compose.Content:
    """A rendering with slots near its end, as a digest has (long enough to share a start)."""
    body = "".join(f"Absatz {n}: Grüße aus Köln, ein Satz über Preise & Versand.\n" for n in range(40))
    slots = compose.Slots()
    email, unsubscribe_url = slots.marker("email"), slots.marker("unsubscribe_url")
    return compose.Content(
        subject="Neuigkeiten",
        text=body + f"Sie erhalten dies als {email}.\nAbmelden: {unsubscribe_url}\n",
        html=f"<p>{body}</p><p>An {email}</p><a href=\"{unsubscribe_url}\">Abmelden</a>",
        headers={"List-Unsubscribe": f"<{unsubscribe_url}>"},
        slots=slots,
    )


def parsed(raw: compose.RawMail):
    return message_from_bytes(raw.data, policy=policy.default)


def test_each_reader_gets_their_own_values_through_the_shared_start(app):
    prepared = rendering()
    with app.app_context():
        for n, email in enumerate(["ann@example.org", "bob.a.very.long.name@example.org"]):
            url = f"https://news.example.org/unsubscribe/TOKEN{n}"
            content = prepared.filled({"email": email, "unsubscribe_url": url})
            assert content.shared_starts[0] is not None and content.shared_starts[1] is not None
            message = parsed(compose.build_message(content, email, date=WHEN))
            assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == content.text
            assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == content.html + "\n"
            assert message["List-Unsubscribe"] == f"<{url}>"
            assert f"als {email}." in content.text and "@@nl-" not in content.text + content.html


def test_the_shared_start_changes_no_byte_of_the_parts(app):
    content = rendering().filled({"email": "ann@example.org", "unsubscribe_url": "https://x.example/u/T"})
    plain = replace(content, shared_starts=(None, None))
    with app.app_context():
        fast = compose.build_message(content, "ann@example.org", date=WHEN, message_id="<m@example.org>")
        slow = compose.build_message(plain, "ann@example.org", date=WHEN, message_id="<m@example.org>")
    boundary = lambda raw: raw.data.split(b'boundary="')[1].split(b'"')[0]  # noqa: E731
    assert fast.data.replace(boundary(fast), b"B") == slow.data.replace(boundary(slow), b"B")
    assert max(len(line) for line in fast.data.split(b"\r\n")) <= 998
    assert not any(line.startswith(b".") for line in fast.data.split(b"\r\n"))


#: Text full of line ends of every kind, dots and non-ASCII.
_ANY_TEXT = st.lists(st.sampled_from(["a", "ü", " ", ".", "\r", "\n", "\r\n", "\u2028", "€"]), max_size=40).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=_ANY_TEXT, text=_ANY_TEXT, html=_ANY_TEXT, header=_ANY_TEXT)
def test_what_build_message_makes_has_only_crlf_line_ends_as_it_vouches(app, subject, text, html, header):
    """The SMTP client skips its line-end check for messages :func:`compose.build_message`
    made (``crlf_only``), so whatever a rendering holds, every CR and LF of the result is a CRLF
    (or the message is refused for a line break in a header)."""
    content = compose.Content(subject=subject, text=text, html=html, headers={"X-Test": header})
    with app.app_context():
        try:
            raw = compose.build_message(content, "ann@example.org", date=WHEN)
        except ValueError:  # a line break in a header value
            return
    assert raw.crlf_only
    assert raw.data.count(b"\r") == raw.data.count(b"\n") == raw.data.count(b"\r\n")


def test_a_filled_line_longer_than_the_text_width_is_wrapped_again(app):
    slots = compose.Slots()
    text = f"Sie erhalten dies als {slots.marker('email')} weil Sie es wollten.\n"
    prepared = compose.Content(subject="s", text=text, html="x", slots=slots)
    long_address = "a.really.quite.remarkably.long.address.of.someone@example.org"
    text = prepared.filled({"email": long_address}).text
    assert all(len(line) <= compose.TEXT_WIDTH for line in text.splitlines())
    assert long_address in text


@given(st.text(alphabet="ab-é \t\u00a0\n.", max_size=300))
@example("word " * 30)
@example("x" * 100 + " tail")
@example("a" * 72 + " b")
def test_filled_lines_wrap_exactly_as_textwrap_would(line):
    """The fast wrapping of filled-in lines gives textwrap's result for any line."""
    expected = textwrap.fill(line, compose.TEXT_WIDTH, break_long_words=False, break_on_hyphens=False)
    assert compose._wrapped(line) == expected

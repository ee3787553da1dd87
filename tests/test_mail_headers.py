"""Mail headers as filters and inboxes read them (issue 15 point 2): List-Id with only its phrase
RFC 2047-encoded, every header line folded to 78 characters with its name and encoded words of
at most 75; Auto-Submitted on the mails sent because someone asked (DOI, preferences link);
Feedback-ID on digests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.delivery import compose, kinds
from tests.support.mails import every_mail, wire

WHEN = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
#: Any character a subject or a site name may hold (no control characters or line separators).
LETTERS = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"])
ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")


def header_lines(raw: bytes) -> dict[str, list[str]]:
    """Each header's physical lines, as on the wire."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    headers: dict[str, list[str]] = {}
    name = ""
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t"):
            headers[name].append(line)
        else:
            name = line.split(":", 1)[0]
            headers[name] = [line]
    return headers


def assert_well_folded(raw: bytes) -> None:
    for name, lines in header_lines(raw).items():
        if name in ("List-Unsubscribe", "Message-ID"):  # one URL or id: cannot be folded
            continue
        for line in lines:
            assert len(line) <= 78, f"{name}: a line of {len(line)} characters: {line!r}"
            for word in ENCODED_WORD.findall(line):
                assert len(word) <= 75, f"{name}: an encoded word of {len(word)} characters: {word!r}"


def test_list_id_encodes_only_the_phrase_and_every_line_fits(app, config, outbox):
    app.config.update(
        SITE_NAME="Bäckerei Müller & Söhne – Feinkost aus Großräschen an der Elster",
        BASE_URL="https://news.example.de",
    )
    mails = every_mail(app, outbox, "de")
    for message in mails.values():
        assert_well_folded(wire(message))
    list_id = " ".join(line.strip() for line in header_lines(wire(mails["digest"]))["List-Id"])
    assert list_id.endswith(" <newsletter.news.example.de>"), list_id  # the id itself as it is
    assert "newsletter.news" not in "".join(ENCODED_WORD.findall(list_id))
    assert str(make_header(decode_header(list_id.removeprefix("List-Id: ")))) == (
        "Bäckerei Müller & Söhne – Feinkost aus Großräschen an der Elster Newsletter <newsletter.news.example.de>"
    )
    subject = mails["confirm"]["Subject"]
    assert subject == (
        "Bitte bestätigen Sie Ihre Anmeldung bei Bäckerei Müller & Söhne – Feinkost aus Großräschen an der Elster"
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=st.text(LETTERS, min_size=1, max_size=200), name=st.text(LETTERS, min_size=1, max_size=120))
def test_any_subject_and_site_name_fold_within_the_limits_and_read_back(app, subject, name):
    subject = " ".join(subject.split()) or "x"
    with app.app_context():
        app.config["SITE_NAME"] = name
        content = compose.Content(subject=subject, text="t\n", html="<p>t</p>", headers={"List-Id": kinds.list_id()})
        raw = compose.build_message(content, "ann@example.org", date=WHEN).data
    assert_well_folded(raw)
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == subject
    assert message["List-Id"].endswith(" <newsletter.news.example.org>")


def test_transactional_mails_say_auto_submitted_and_digests_carry_a_feedback_id(app, outbox):
    mails = every_mail(app, outbox, "en")
    assert mails["confirm"]["Auto-Submitted"] == "auto-generated"
    assert mails["preferences_link"]["Auto-Submitted"] == "auto-generated"
    assert mails["digest"]["Auto-Submitted"] is None
    feedback = mails["digest"]["Feedback-ID"]
    assert re.fullmatch(r"digest-\d+:digest:newsletter:example\.org", feedback), feedback
    assert mails["confirm"]["Feedback-ID"] is None

"""The text part as a reader's program shows it (issue 15 point 2): format=flowed (RFC 3676), so
paragraphs flow again to any width instead of breaking line by line, the reader's values
included; the standard "-- " signature separator; a blank line between an article's title and
its summary; no line beyond 78 characters but a URL.
"""

from __future__ import annotations

import pytest

from tests.support.mails import ARTICLES, KINDS, every_mail


def unflowed(text: str) -> list[str]:
    """The paragraphs of a format=flowed text: soft breaks (a space before the line end) joined,
    stuffing removed (RFC 3676 §4.2, §4.4)."""
    paragraphs, current = [], ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(" "):
            line = line[1:]
        current += line
        if not line.endswith(" ") or line == "-- ":
            paragraphs.append(current)
            current = ""
    return paragraphs


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_text_part_flows_and_signs_off_as_mail_programs_expect(app, outbox, language):
    mails = every_mail(app, outbox, language)
    for kind in KINDS:
        part = mails[kind].get_body(("plain",))
        assert part.get_param("format") == "flowed" and part.get_param("delsp") == "no", kind
        text = part.get_content()
        lines = text.replace("\r\n", "\n").split("\n")
        assert lines.count("-- ") == 1 and "--" not in lines, kind
        for line in lines:
            assert len(line) <= 78 or "://" in line, f"{kind}: {line!r}"
            assert line == "-- " or not line.endswith("  "), f"{kind}: {line!r}"
        paragraphs = unflowed(text)
        assert all(paragraph == paragraph.strip() or paragraph == "-- " for paragraph in paragraphs), kind

    digest = unflowed(mails["digest"].get_body(("plain",)).get_content())
    reader = f"leserin.mit.langer.adresse-{language}@example.org"
    (reason,) = [paragraph for paragraph in digest if reader in paragraph]
    assert reason.endswith((".", "。")) and reason.startswith(("Sie erhalten", "You receive")), reason
    first = ARTICLES[0]
    title_at = digest.index(first["title"])
    assert digest[title_at + 1] == "" and digest[title_at + 2].startswith(first["summary"].split("\n")[0])

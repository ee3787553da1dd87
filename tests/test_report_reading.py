"""Reading what a report says (issue 17 point 3), without app or database: the DSN fields
that decide, the fallbacks, and hostile input that never makes the reader raise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.models import ReportKind
from newsletter.report_reading import read
from tests.support import reports


def test_a_dsn_is_read_by_its_status_and_names_the_recipient_and_the_original():
    reading = read(reports.dsn("Anna@Example.org", "5.1.1", message_id="<m1@example.org>"))
    assert reading.kind is ReportKind.HARD
    assert reading.status == "5.1.1"
    assert reading.recipients == ("anna@example.org",)
    assert reading.message_ids == ("<m1@example.org>",)
    assert "User unknown" in reading.detail


def test_without_a_status_the_diagnostic_code_decides():
    raw = reports.dsn("a@example.org", "5.1.1", diagnostic="552 5.3.4 Message too big").replace(
        b"Status: 5.1.1\r\n", b""
    )
    reading = read(raw)
    assert (reading.kind, reading.status) == (ReportKind.MESSAGE, "5.3.4")


def test_a_successful_delivery_notice_is_no_bounce():
    reading = read(reports.dsn("a@example.org", "2.0.0", action="delivered"))
    assert reading.kind is not ReportKind.HARD and reading.kind is not ReportKind.SOFT


def test_a_feedback_report_that_is_not_abuse_is_no_complaint():
    assert read(reports.arf("a@example.org", "<m@example.org>", feedback_type="not-spam")).kind is ReportKind.UNKNOWN


def test_a_redacted_complaint_falls_back_to_the_original_to():
    raw = reports.arf("a@example.org", "<m@example.org>").replace(b"Original-Rcpt-To: <a@example.org>\r\n", b"")
    reading = read(raw)
    assert reading.kind is ReportKind.COMPLAINT and reading.recipients == ("a@example.org",)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_read_without_raising(data):
    assert read(data).kind in ReportKind


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_any_text_inside_a_dsn_is_read_without_raising(text):
    action = b"Action: " + text.encode("utf-8", "replace")
    raw = reports.dsn("a@example.org", "5.1.1").replace(b"Action: failed", action)
    assert read(raw).kind in ReportKind

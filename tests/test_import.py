"""import-subscribers: evidence rows become confirmed, the rest get a DOI mail, bad rows are named."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from newsletter import subscribers, suppression
from newsletter.delivery import sender
from newsletter.extensions import db
from newsletter.models import ConsentChannel, ConsentEvent, Delivery, Subscriber, SubscriberStatus

HEADER = "email,consented_at,confirmed_at,ip,source\n"


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str, name: str = "subscribers.csv"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_rows_with_evidence_are_confirmed_with_an_imported_event(app, runner, csv_file):
    path = csv_file(HEADER + "Ann@Example.org,2024-05-01T10:00:00+02:00,2024-05-01T10:05:00,192.0.2.1,shop\n")
    result = runner.invoke(args=["import-subscribers", path])
    assert result.exit_code == 0, result.output
    assert "imported 1 confirmed, 0 pending" in result.output
    export = json.loads(runner.invoke(args=["export-subscriber", "ann@example.org"]).output)
    assert export["status"] == "confirmed"
    (event,) = export["events"]
    assert (event["type"], event["channel"], event["ip"]) == ("imported", "import", "192.0.2.1")
    assert event["detail"] == {
        "consented_at": "2024-05-01T08:00:00+00:00",
        "confirmed_at": "2024-05-01T08:05:00+00:00",  # no zone given: TIMEZONE (CEST)
        "source": "shop",
    }
    with app.app_context():
        subscriber = db.session.execute(select(Subscriber)).scalar_one()
        assert subscriber.confirmed_at.isoformat() == "2024-05-01T08:05:00+00:00"
        assert subscriber.source == "shop"
        assert count(Delivery) == 0  # no mail to people who already confirmed elsewhere


def test_imported_evidence_verifies_and_later_sign_ups_get_their_own_ids(app, runner, csv_file):
    """On PostgreSQL the ids are taken from the sequence before the rows are copied in."""
    evidence = "2024-05-01T10:00:00Z,2024-05-01T10:05:00Z"
    rows = "".join(f"user{i}@example.org,{evidence},192.0.2.{i},shop\n" for i in range(5))
    assert runner.invoke(args=["import-subscribers", csv_file(HEADER + rows)]).exit_code == 0
    verified = runner.invoke(args=["verify-evidence"])
    assert verified.exit_code == 0 and "5 subscribers, 5 events checked" in verified.output, verified.output
    with app.app_context():
        subscribers.request_subscription(
            "late@example.org", text=None, locale="de", ip=None, user_agent=None, channel=ConsentChannel.FORM,
        )
        db.session.commit()
        ids = db.session.execute(select(Subscriber.id).order_by(Subscriber.id)).scalars().all()
        assert len(set(ids)) == 6
        late = db.session.execute(select(Subscriber).filter_by(email="late@example.org")).scalar_one()
        assert late.id == max(ids)
        heads = db.session.execute(
            select(Subscriber.evidence_head, ConsentEvent.hash).join(ConsentEvent).where(Subscriber.id != late.id)
        ).all()
        assert len(heads) == 5 and all(head == event_hash for head, event_hash in heads)


def test_rows_without_evidence_become_pending_and_get_a_confirmation_mail(app, runner, csv_file, outbox):
    path = csv_file(HEADER + "bob@example.org,,,,\ncarl@example.org,2024-05-01T10:00:00Z,,,\n")
    result = runner.invoke(args=["import-subscribers", path])
    assert result.exit_code == 0, result.output
    assert "0 confirmed, 2 pending" in result.output
    with app.app_context():
        assert count(Subscriber, Subscriber.status == SubscriberStatus.PENDING) == 2
        sender.drain()
    assert sorted(str(m["To"]) for m in outbox) == ["bob@example.org", "carl@example.org"]
    assert all("/confirm/" in m.get_body(("plain",)).get_content() for m in outbox)


def test_importing_the_same_file_twice_changes_nothing(app, runner, csv_file):
    path = csv_file(HEADER + "ann@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,\nbob@example.org,,,,\n")
    runner.invoke(args=["import-subscribers", path])
    with app.app_context():
        before = (count(Subscriber), count(Delivery))
    second = runner.invoke(args=["import-subscribers", path])
    assert second.exit_code == 0
    assert "0 confirmed, 0 pending (confirmation mail queued); 2 already known" in second.output
    with app.app_context():
        assert (count(Subscriber), count(Delivery)) == before


def test_bad_rows_are_reported_by_line_and_skipped(app, runner, csv_file):
    path = csv_file(
        HEADER
        + "good@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,\n"
        + "not-an-address,,,,\n"
        + "late@example.org,2024-05-01T10:00:00Z,yesterday,,\n"
        + "early@example.org,2024-05-02T10:00:00Z,2024-05-01T10:00:00Z,,\n"
        + "ip@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,300.1.1.1,\n"
        + "future@example.org,2099-01-01T00:00:00Z,2099-01-01T00:05:00Z,,\n"
        + "extra@example.org,,,,,surplus\n"
        + "also-good@example.org,,,,\n"
    )
    strict = runner.invoke(args=["import-subscribers", "--strict", path])
    assert strict.exit_code == 1 and "6 bad rows: nothing imported (--strict)" in strict.output
    with app.app_context():
        assert count(Subscriber) == 0
    result = runner.invoke(args=["import-subscribers", path])
    assert result.exit_code == 0, result.output  # rows were imported: the bad ones are named
    assert "imported 1 confirmed, 1 pending" in result.output
    assert "6 bad rows (lines 3, 4, 5, 6, 7, 8)" in result.output
    for line, words in [(3, "invalid email"), (4, "is not a time"), (5, "before consented_at"),
                        (6, "invalid ip"), (7, "in the future"), (8, "more fields than columns")]:
        assert f"line {line}: " in result.output and words in result.output
    assert "Traceback" not in result.output
    only_bad = runner.invoke(args=["import-subscribers", csv_file(HEADER + "not-an-address,,,,\n", "bad.csv")])
    assert only_bad.exit_code == 1 and "1 bad rows (lines 2)" in only_bad.output


def test_suppressed_addresses_are_not_imported(app, runner, csv_file):
    with app.app_context():
        suppression.suppress("gone@example.org", "erased")
        db.session.commit()
    path = csv_file(HEADER + "gone@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,\ngone@example.org,,,,\n")
    result = runner.invoke(args=["import-subscribers", path])
    assert "1 suppressed" in result.output
    with app.app_context():
        assert count(Subscriber) == 0 and count(Delivery) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,address\nx,y\n", "the first line must name the columns"),
        ("email,phone\nx@example.org,1\n", "unknown columns phone"),
        ("", "the first line must name the columns"),
    ],
)
def test_unusable_files_are_refused_clearly(runner, csv_file, content, message):
    result = runner.invoke(args=["import-subscribers", csv_file(content)])
    assert result.exit_code == 1 and message in result.output


def test_a_missing_file_is_refused_clearly(runner, tmp_path):
    missing = runner.invoke(args=["import-subscribers", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_large_files_are_imported_in_batches(app, runner, csv_file, monkeypatch):
    from newsletter import importer

    monkeypatch.setattr(importer, "BATCH_SIZE", 100)
    rows = "".join(f"user{i}@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,bulk\n" for i in range(450))
    result = runner.invoke(args=["import-subscribers", csv_file(HEADER + rows)])
    assert result.exit_code == 0, result.output
    assert "imported 450 confirmed" in result.output
    with app.app_context():
        assert count(Subscriber, Subscriber.status == SubscriberStatus.CONFIRMED) == 450

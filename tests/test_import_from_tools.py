"""Moving in from another tool (issue 15 point 5): a German Excel file (semicolons,
Windows-1252), Mailchimp's and listmonk's exports are imported; --dry-run changes nothing; and
moving out: the admin downloads every subscriber with the evidence, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import func, select

from newsletter import csvlayout, subscribers
from newsletter.extensions import db
from newsletter.models import ConsentChannel, ConsentEvent, Delivery, Subscriber, SubscriberStatus
from tests.support.exports import GERMAN_EXCEL, LISTMONK, MAILCHIMP, MAILCHIMP_UNSUBSCRIBED
from tests.support.flows import sign_up_and_confirm


def write(tmp_path, content: bytes, name: str = "liste.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def statuses(app) -> dict[str, SubscriberStatus]:
    with app.app_context():
        return dict(db.session.execute(select(Subscriber.email, Subscriber.status)).all())


def totals(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(
            db.session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Subscriber, ConsentEvent, Delivery)
        )


def imported_event(runner, email: str) -> dict:
    export = json.loads(runner.invoke(args=["export-subscriber", email]).output)
    (event,) = export["events"]
    return event


def test_a_german_excel_file_with_semicolons_in_windows_1252_is_imported(app, runner, tmp_path):
    path = write(tmp_path, GERMAN_EXCEL.encode("cp1252"))
    result = runner.invoke(args=["import-subscribers", path])
    assert result.exit_code == 0, result.output
    assert "reading CSV (Windows-1252, semicolons)" in result.output
    assert "imported 2 confirmed, 1 pending" in result.output and "1 bad rows (lines 2)" in result.output
    assert "line 2: invalid email 'jürgen.mueller@example.org'" in result.output
    assert statuses(app) == {
        "kunde@bäckerei-müller.de": SubscriberStatus.CONFIRMED,
        "stammkunde@example.org": SubscriberStatus.CONFIRMED,
        "neu@example.org": SubscriberStatus.PENDING,
    }
    event = imported_event(runner, "kunde@bäckerei-müller.de")
    assert event["ip"] == "192.0.2.10"
    assert event["detail"] == {  # German dates in TIMEZONE (CEST in June)
        "consented_at": "2024-06-03T10:00:00+00:00",
        "confirmed_at": "2024-06-03T10:05:00+00:00",
        "source": "Gewinnspiel Bäckerei",
    }
    assert imported_event(runner, "stammkunde@example.org")["detail"]["source"] == "Ladentheke „Süßes“"


def test_mailchimps_export_is_imported_with_its_evidence(app, runner, tmp_path):
    result = runner.invoke(args=["import-subscribers", write(tmp_path, MAILCHIMP.encode("utf-8"))])
    assert result.exit_code == 0, result.output
    assert "reading Mailchimp's export (UTF-8, commas)" in result.output
    assert "columns not imported: First Name, Last Name, Address, Phone Number, MEMBER_RATING" in result.output
    assert "imported 1 confirmed, 2 pending" in result.output
    assert statuses(app) == {
        "anna@example.org": SubscriberStatus.CONFIRMED,
        "bernd@example.org": SubscriberStatus.PENDING,  # single opt-in there: asked to confirm here
        "carla@example.org": SubscriberStatus.PENDING,  # no opt-in time: no evidence of consent
    }
    event = imported_event(runner, "anna@example.org")
    assert event["ip"] == "198.51.100.7"  # the confirmation's
    assert event["detail"] == {
        "consented_at": "2024-06-03T10:00:00+00:00",  # Mailchimp writes UTC
        "confirmed_at": "2024-06-03T10:05:00+00:00",
        "source": "mailchimp",
    }

    leavers = runner.invoke(args=["import-subscribers", write(tmp_path, MAILCHIMP_UNSUBSCRIBED.encode(), "unsub.csv")])
    assert leavers.exit_code == 1 and "export of unsubscribed or cleaned contacts" in leavers.output
    assert "gone@example.org" not in statuses(app)


def test_listmonks_export_is_imported_and_its_blocklisted_are_left_out(app, runner, tmp_path):
    result = runner.invoke(args=["import-subscribers", write(tmp_path, LISTMONK.encode("utf-8"))])
    assert result.exit_code == 0, result.output
    assert "reading listmonk's export (UTF-8, commas)" in result.output
    assert "imported 0 confirmed, 1 pending" in result.output and "1 left out, 0 bad rows" in result.output
    assert "line 3: left out: blocklisted in listmonk" in result.output
    assert statuses(app) == {"lisa@example.org": SubscriberStatus.PENDING}


def test_a_dry_run_says_what_would_happen_and_changes_nothing(app, runner, tmp_path):
    path = write(tmp_path, MAILCHIMP.encode("utf-8") + b'"anna@example.org","Anna again"\n')
    before = totals(app)
    result = runner.invoke(args=["import-subscribers", "--dry-run", path])
    assert result.exit_code == 0, result.output
    assert "would import 1 confirmed, 2 pending (confirmation mail would be queued); 1 already known" in result.output
    assert "dry run: nothing was changed" in result.output
    assert totals(app) == before
    real = runner.invoke(args=["import-subscribers", path])
    assert "imported 1 confirmed, 2 pending (confirmation mail queued); 1 already known" in real.output


def test_the_admin_downloads_every_subscriber_with_evidence_safe_against_formulas(
    app, runner, tmp_path, visitor, outbox, admin_client
):
    reader = sign_up_and_confirm(app, visitor, outbox, "leserin@example.org")
    hostile = (
        "email,consented_at,confirmed_at,ip,source\n"
        '-2+3@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,192.0.2.1,"=HYPERLINK(""http://x"")"\n'
        "plus@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,+49 30 1234\n"
        "at@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,@SUM(A1)\n"
        'tab@example.org,2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,"\t=1+1"\n'
        "gone@example.org,,,,\n"
    )
    assert runner.invoke(args=["import-subscribers", write(tmp_path, hostile.encode())]).exit_code == 0
    with app.app_context():
        subscribers.erase(subscribers.find_by_email("gone@example.org"), ConsentChannel.ADMIN)
        db.session.commit()

    response = admin_client.get("/admin/subscribers.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == 'attachment; filename="subscribers-2026-03-02.csv"'
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeffemail,consented_at,confirmed_at,ip,source,status,channel,confirm_ip,")
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(body.removeprefix("\ufeff")))}
    assert set(rows) == {"leserin@example.org", "'-2+3@example.org", "plus@example.org", "at@example.org",
                         "tab@example.org"}  # the erased address is gone
    assert rows["'-2+3@example.org"]["source"] == "'=HYPERLINK(\"http://x\")"
    assert rows["plus@example.org"]["source"] == "'+49 30 1234"
    assert rows["at@example.org"]["source"] == "'@SUM(A1)"
    assert rows["tab@example.org"]["source"] == "'=1+1"  # the import trimmed the tab
    for cell in ("\t=1+1", "\r=1+1", "=1", "+1", "-1", "@A1"):
        assert csvlayout.neutralise(cell) == "'" + cell
    assert csvlayout.neutralise("Anna = Leserin") == "Anna = Leserin"
    cells = [value for row in rows.values() for value in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    mine = rows["leserin@example.org"]
    with app.app_context():
        signed_up = db.session.get(Subscriber, reader)
        assert mine["status"] == "confirmed" and mine["confirmed_at"] == signed_up.confirmed_at.isoformat()
    assert mine["consented_at"] and mine["ip"] and mine["confirm_ip"] and len(mine["consent_text_sha256"]) == 64
    assert mine["channel"] == "form"
    imported = rows["plus@example.org"]
    assert (imported["consented_at"], imported["channel"], imported["status"]) == (
        "2024-05-01T10:00:00+00:00", "import", "confirmed"
    )
    # The download is a file the import reads (another instance's, or this one's: all known).
    again = runner.invoke(args=["import-subscribers", write(tmp_path, response.get_data(), "download.csv")])
    assert again.exit_code == 0, again.output
    assert "imported 0 confirmed, 0 pending" in again.output and "5 already known" in again.output

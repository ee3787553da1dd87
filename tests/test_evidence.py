"""Evidence that holds up (COMPLIANCE items 8, 13–14): versioned wordings, and
``flask verify-evidence`` catching every changed or removed event row."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import consent, evidence, subscribers
from newsletter.extensions import db
from newsletter.models import ConsentText, Subscriber
from tests.support.flows import drain, sign_up_and_confirm
from tests.support.tampering import event_ids, raw_sql
from tests.support.visitor import confirm_link


def verify(runner):
    return runner.invoke(args=["verify-evidence"])


@pytest.fixture
def ann(app, visitor, outbox) -> int:
    """Ann: requested, confirmed, withdrawn; her id."""
    subscriber_id = sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    with app.app_context():
        subscribers.withdraw(db.session.get(Subscriber, subscriber_id), "link")
        db.session.commit()
    return subscriber_id


@pytest.fixture
def bob(app, visitor, outbox) -> int:
    return sign_up_and_confirm(app, visitor, outbox, "bob@example.org")


def test_intact_evidence_exits_0_with_the_counts(app, runner, ann, bob):
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "evidence intact: 2 subscribers, 5 events checked"


def test_a_changed_row_is_named_by_subscriber_and_event(app, runner, ann, bob):
    requested, confirmed, withdrawn = event_ids(app, ann)
    raw_sql(app, "UPDATE consent_event SET channel = 'admin' WHERE id = :id", id=withdrawn)
    result = verify(runner)
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {withdrawn}: content changed" in result.output
    assert f"subscriber {bob}" not in result.output
    assert "NOT intact: 1 problems in 2 subscribers, 5 events" in result.output


@pytest.mark.parametrize(
    ("column", "value"), [("at", "2020-01-01 00:00:00"), ("type", "imported"), ("detail", '{"source": "x"}')]
)
def test_any_changed_column_shows(app, runner, ann, column, value):
    requested = event_ids(app, ann)[0]
    raw_sql(app, f"UPDATE consent_event SET {column} = :value WHERE id = :id", value=value, id=requested)
    result = verify(runner)
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {requested}: content changed" in result.output


def test_a_changed_ip_address_or_user_agent_shows(app, runner, ann):
    requested, confirmed, _ = event_ids(app, ann)
    raw_sql(app, "UPDATE consent_event SET ip = '198.51.100.9' WHERE id = :id", id=requested)
    raw_sql(app, "UPDATE consent_event SET user_agent = 'Forged/1.0' WHERE id = :id", id=confirmed)
    output = verify(runner).output
    assert f"event {requested}: IP address or user agent changed" in output
    assert f"event {confirmed}: IP address or user agent changed" in output


def test_personal_data_removed_outside_an_erasure_shows(app, runner, ann):
    requested = event_ids(app, ann)[0]
    raw_sql(
        app, "UPDATE consent_event SET ip = NULL, user_agent = NULL, personal_salt = NULL WHERE id = :id", id=requested
    )
    result = verify(runner)
    assert result.exit_code == 1
    removed = "IP address and user agent were removed, but the subscriber was not erased"
    assert f"event {requested}: {removed}" in result.output


def test_a_deleted_middle_row_breaks_the_link_of_the_next(app, runner, ann):
    requested, confirmed, withdrawn = event_ids(app, ann)
    raw_sql(app, "DELETE FROM consent_event WHERE id = :id", id=confirmed)
    result = verify(runner)
    assert result.exit_code == 1
    assert (
        f"subscriber {ann}, event {withdrawn}: an event between event {requested} and this one was removed"
        in result.output
    )


def test_a_deleted_first_row_shows(app, runner, ann):
    requested, confirmed, _ = event_ids(app, ann)
    raw_sql(app, "DELETE FROM consent_event WHERE id = :id", id=requested)
    result = verify(runner)
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {confirmed}: the events before this one were removed" in result.output


def test_a_deleted_last_row_shows_through_the_recorded_head(app, runner, ann):
    _, confirmed, withdrawn = event_ids(app, ann)
    raw_sql(app, "DELETE FROM consent_event WHERE id = :id", id=withdrawn)
    result = verify(runner)
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {confirmed}: the events after this one were removed" in result.output
    # The status no longer follows from what is left, either.
    expected = "status withdrawn does not follow from the events (expected confirmed)"
    assert f"subscriber {ann}: {expected}" in result.output


def test_a_gap_at_the_end_is_not_healed_by_later_events(app, runner, ann, visitor, outbox):
    _, confirmed, withdrawn = event_ids(app, ann)
    raw_sql(app, "DELETE FROM consent_event WHERE id = :id", id=withdrawn)
    visitor.sign_up("ann@example.org")  # a new request chains onto the recorded head
    new = event_ids(app, ann)[-1]
    result = verify(runner)
    assert result.exit_code == 1
    removed = f"an event between event {confirmed} and this one was removed"
    assert f"subscriber {ann}, event {new}: {removed}" in result.output


def test_all_rows_deleted_shows(app, runner, ann):
    raw_sql(app, "DELETE FROM consent_event WHERE subscriber_id = :id", id=ann)
    result = verify(runner)
    assert result.exit_code == 1
    assert f"subscriber {ann}: all events were removed" in result.output


def test_a_status_without_evidence_shows(app, runner, ann, bob):
    raw_sql(app, "UPDATE subscriber SET status = 'confirmed' WHERE id = :id", id=ann)
    result = verify(runner)
    assert result.exit_code == 1
    expected = "status confirmed does not follow from the events (expected withdrawn)"
    assert f"subscriber {ann}: {expected}" in result.output


def test_a_changed_wording_shows(app, runner, ann):
    with app.app_context():
        text_id = db.session.execute(select(ConsentText.id)).scalar_one()
    raw_sql(app, "UPDATE consent_text SET text = 'Ich willige in alles ein.' WHERE id = :id", id=text_id)
    result = verify(runner)
    assert result.exit_code == 1
    assert f"consent text {text_id}: wording changed" in result.output


def test_imported_evidence_verifies_and_later_events_chain_on(app, runner, tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text(
        "email,consented_at,confirmed_at,ip,source\n"
        + "".join(f"user{i}@example.org,2024-05-01T10:00Z,2024-05-01T10:05Z,192.0.2.{i},shop\n" for i in range(5)),
        encoding="utf-8",
    )
    assert runner.invoke(args=["import-subscribers", str(csv)]).exit_code == 0
    with app.app_context():
        subscriber = subscribers.find_by_email("user3@example.org")
        (imported,) = consent.history(subscriber)
        assert subscriber.evidence_head == imported.hash
        subscribers.withdraw(subscriber, "link")
        db.session.commit()
        assert consent.history(subscriber)[-1].prev_hash == imported.hash
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "5 subscribers, 6 events" in result.output


def test_problems_are_found_in_every_batch(app, visitor, outbox):
    ids = [sign_up_and_confirm(app, visitor, outbox, f"user{i}@example.org") for i in range(5)]
    raw_sql(app, "UPDATE consent_event SET channel = 'admin' WHERE id = :id", id=event_ids(app, ids[4])[1])
    raw_sql(app, "DELETE FROM consent_event WHERE id = :id", id=event_ids(app, ids[0])[0])
    with app.app_context():
        summary = evidence.Summary()
        problems = list(evidence.verify_all(summary, batch_size=2))
    assert (summary.subscribers, summary.events, summary.problems) == (5, 9, 2)
    assert [p.subscriber_id for p in problems] == [ids[0], ids[4]]


def test_a_changed_statement_is_a_new_version_and_old_events_keep_theirs(
    app, client, visitor, outbox, clock, runner
):
    start = clock.now()
    visitor.sign_up("ann@example.org")  # sees the built-in wording
    clock.advance(days=1)
    client.get("/")  # still shown a day later
    clock.advance(days=1)
    app.config["CONSENT_TEXT"] = {"de": "Ja, {site_name} darf mir per E-Mail schreiben („{button}“)."}
    page = client.get("/").get_data(as_text=True)
    assert "Ja, Beispiel Verlag darf mir per E-Mail schreiben („Abschicken“)." in page
    drain(app)
    visitor.confirm(confirm_link(outbox[-1]))  # confirms what she agreed to: the old wording
    visitor.sign_up("bob@example.org")
    with app.app_context():
        old, new = db.session.execute(select(ConsentText).order_by(ConsentText.id)).scalars().all()
        assert old.text.startswith("Mit einem Klick auf „Abschicken“") and "Produktneuigkeiten" in old.text
        assert new.sha256 != old.sha256 and new.language == old.language == "de"
        assert (old.first_shown_at, old.last_shown_at) == (start, start + timedelta(days=1))
        assert new.first_shown_at == new.last_shown_at == clock.now()
        ann = consent.history(subscribers.find_by_email("ann@example.org"))
        bob = consent.history(subscribers.find_by_email("bob@example.org"))
        exported = [consent.evidence(subscribers.find_by_email(f"{name}@example.org")) for name in ("ann", "bob")]
    assert [(e.type, e.consent_text_id) for e in ann] == [("requested", old.id), ("confirmed", old.id)]
    assert [e.consent_text_id for e in bob] == [new.id]
    # The export shows each reader the wording she agreed to, with its SHA-256.
    ann_wording, bob_wording = (export["events"][0]["consent_text"] for export in exported)
    assert "Produktneuigkeiten" in ann_wording["text"]
    assert bob_wording["text"].startswith("Ja, Beispiel Verlag darf mir per E-Mail schreiben")
    assert ann_wording["sha256"] != bob_wording["sha256"]
    assert verify(runner).exit_code == 0


def test_output_names_ids_only_never_addresses(app, runner, ann):
    raw_sql(app, "UPDATE consent_event SET channel = 'admin' WHERE subscriber_id = :id", id=ann)
    output = verify(runner).output
    assert "@" not in output and len(re.findall(r"content changed", output)) == 3

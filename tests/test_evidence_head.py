"""Evidence that cannot be rewritten quietly: ``flask evidence-head`` prints one digest over
every consent event, ``verify-evidence --head`` proves that no event covered by it has been
changed or removed since (later events are fine), and the retention purge stays compatible."""

from __future__ import annotations

import re

import pytest

from newsletter import ledger, subscribers
from newsletter.extensions import db
from newsletter.models import ConsentEvent, Subscriber
from tests.support.flows import sign_up, sign_up_and_confirm
from tests.support.tampering import event_ids, raw_sql, rewrite_history

HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


def take_head(runner) -> str:
    result = runner.invoke(args=["evidence-head"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[0]


def verify(runner, head: str):
    return runner.invoke(args=["verify-evidence", "--head", head])


@pytest.fixture
def ann(app, visitor, outbox) -> int:
    return sign_up_and_confirm(app, visitor, outbox, "ann@example.org")


@pytest.fixture
def bob(app, visitor, outbox) -> int:
    return sign_up_and_confirm(app, visitor, outbox, "bob@example.org")


def test_the_head_is_one_token_and_the_time_and_verifies(app, runner, clock, ann, bob):
    result = runner.invoke(args=["evidence-head"])
    assert result.exit_code == 0, result.output
    token, when = result.output.splitlines()[:2]
    match = HEAD.match(token)
    assert match and int(match[1]) == max(event_ids(app, bob))
    assert clock.now().isoformat() in when
    checked = verify(runner, token)
    assert checked.exit_code == 0, checked.output
    assert "evidence intact: 2 subscribers, 4 events checked" in checked.output
    assert f"matches the head {token}: 4 events as they were" in checked.output


def test_events_added_after_the_head_are_fine(app, runner, visitor, outbox, ann, bob):
    head = take_head(runner)
    sign_up_and_confirm(app, visitor, outbox, "carl@example.org")
    with app.app_context():
        subscribers.withdraw(db.session.get(Subscriber, ann), "link")
        subscribers.erase(db.session.get(Subscriber, bob), "admin")  # scrubs personal columns only
        db.session.commit()
    result = verify(runner, head)
    assert result.exit_code == 0, result.output
    assert take_head(runner) != head


def test_a_rewritten_history_passes_the_chain_but_not_the_head(app, runner, ann, bob):
    head = take_head(runner)
    requested, confirmed = event_ids(app, ann)
    rewrite_history(app, ann, confirmed, "admin")  # "an admin confirmed her", not she herself
    assert runner.invoke(args=["verify-evidence"]).exit_code == 0  # the chains alone are fooled
    result = verify(runner, head)
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {confirmed}: changed since the head was taken" in result.output
    assert f"event {requested}" not in result.output and f"subscriber {bob}" not in result.output


def test_a_subscriber_deleted_whole_is_named(app, runner, ann, bob):
    head = take_head(runner)
    requested, confirmed = event_ids(app, bob)
    for table in ("consent_event", "delivery"):
        raw_sql(app, f"DELETE FROM {table} WHERE subscriber_id = :id", id=bob)
    raw_sql(app, "DELETE FROM subscriber WHERE id = :id", id=bob)
    assert runner.invoke(args=["verify-evidence"]).exit_code == 0  # nothing left to check
    result = verify(runner, head)
    assert result.exit_code == 1
    assert f"subscriber {bob}, event {confirmed}: removed since the head was taken" in result.output
    # The request alone could have been the purge's; the removed confirmation could not.
    assert f"event {requested}:" not in result.output


def test_an_edited_row_is_named_by_the_chain_check(app, runner, ann):
    head = take_head(runner)
    confirmed = event_ids(app, ann)[1]
    raw_sql(app, "UPDATE consent_event SET channel = 'admin' WHERE id = :id", id=confirmed)
    result = verify(runner, head)
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {confirmed}: content changed" in result.output
    assert f"subscriber {ann}, event {confirmed}: changed since the head was taken" not in result.output


def test_rewriting_the_heads_record_too_still_fails(app, runner, ann, bob):
    head = take_head(runner)
    confirmed = event_ids(app, ann)[1]
    rewrite_history(app, ann, confirmed, "admin")
    with app.app_context():
        new_hash = db.session.get(ConsentEvent, confirmed).hash
    raw_sql(app, "UPDATE evidence_ledger SET hash = :hash WHERE event_id = :id", hash=new_hash, id=confirmed)
    result = verify(runner, head)
    assert result.exit_code == 1
    assert f"no longer match the head {head}" in result.output
    assert "cannot be named" in result.output


@pytest.mark.parametrize("forged_id", [0, -7])
def test_an_event_slipped_in_under_an_id_the_head_covers_is_named(app, runner, ann, forged_id):
    head = take_head(runner)
    raw_sql(
        app,
        "INSERT INTO consent_event (id, subscriber_id, type, at, channel, personal_digest, prev_hash, hash)"
        " SELECT :id, subscriber_id, type, at, 'admin', personal_digest, prev_hash, hash FROM consent_event"
        " WHERE id = :copied",
        id=forged_id, copied=event_ids(app, ann)[1],
    )
    result = verify(runner, head)
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {forged_id}: not there when the head was taken" in result.output


def test_a_changed_record_alone_is_noted_but_the_evidence_still_holds(app, runner, ann):
    head = take_head(runner)
    requested = event_ids(app, ann)[0]
    raw_sql(app, "UPDATE evidence_ledger SET hash = :hash WHERE event_id = :id", hash="0" * 64, id=requested)
    result = verify(runner, head)
    assert result.exit_code == 0, result.output
    assert f"note: the head's record (table evidence_ledger) was changed at event {requested}" in result.output


def test_a_removed_confirmation_passed_off_as_purged_fails(app, runner, ann, bob):
    head = take_head(runner)
    for table in ("consent_event", "delivery"):
        raw_sql(app, f"DELETE FROM {table} WHERE subscriber_id = :id", id=bob)
    raw_sql(app, "DELETE FROM subscriber WHERE id = :id", id=bob)
    raw_sql(app, "UPDATE evidence_ledger SET type = 'requested' WHERE subscriber_id = :id", id=bob)
    result = verify(runner, head)
    assert result.exit_code == 1
    assert "cannot be named" in result.output


def test_the_purge_keeps_a_kept_head_verifiable(app, runner, visitor, outbox, clock, ann):
    sign_up(app, visitor, outbox, "never@example.org")  # never confirmed
    head = take_head(runner)
    clock.advance(days=app.config["UNCONFIRMED_RETENTION_DAYS"] + 1)
    assert "deleted 1 never-confirmed sign-ups (1 consent events" in runner.invoke(args=["purge"]).output
    result = verify(runner, head)
    assert result.exit_code == 0, result.output
    assert "3 events as they were, 1 of them purged since" in result.output
    later = take_head(runner)
    assert HEAD.match(later)[1] == HEAD.match(head)[1]  # the purged event stays covered
    assert verify(runner, later).exit_code == 0


def test_ids_of_purged_events_are_never_reused(app, runner, visitor, outbox, clock, ann):
    sign_up(app, visitor, outbox, "never@example.org")  # the newest event, to be purged
    head = take_head(runner)
    newest = int(HEAD.match(head)[1])
    clock.advance(days=app.config["UNCONFIRMED_RETENTION_DAYS"] + 1)
    runner.invoke(args=["purge"])
    carl = sign_up_and_confirm(app, visitor, outbox, "carl@example.org")
    assert min(event_ids(app, carl)) > newest
    assert verify(runner, head).exit_code == 0


def test_evidence_head_refuses_evidence_changed_since_an_earlier_head(app, runner, ann):
    take_head(runner)
    confirmed = event_ids(app, ann)[1]
    rewrite_history(app, ann, confirmed, "admin")
    result = runner.invoke(args=["evidence-head"])
    assert result.exit_code == 1
    assert f"subscriber {ann}, event {confirmed}: changed since an earlier head was taken" in result.output
    assert not any(HEAD.match(line) for line in result.output.splitlines())


def test_imported_evidence_is_covered(app, runner, tmp_path):
    csv = tmp_path / "list.csv"
    csv.write_text(
        "email,consented_at,confirmed_at,ip,source\n"
        + "".join(f"user{i}@example.org,2024-05-01T10:00Z,2024-05-01T10:05Z,,shop\n" for i in range(5)),
        encoding="utf-8",
    )
    assert runner.invoke(args=["import-subscribers", str(csv)]).exit_code == 0
    head = take_head(runner)
    assert verify(runner, head).exit_code == 0
    with app.app_context():
        third = subscribers.find_by_email("user3@example.org").id
    imported = event_ids(app, third)[0]
    raw_sql(app, "DELETE FROM consent_event WHERE id = :id", id=imported)
    assert f"subscriber {third}, event {imported}: removed since" in verify(runner, head).output


@pytest.mark.parametrize(
    "head", ["nonsense", "12", "12:abc", "-1:" + "0" * 64, "99999999999999999999:" + "0" * 64, "1:" + "0" * 63 + "\x00"]
)
def test_a_malformed_head_is_refused_clearly(app, runner, head):
    result = verify(runner, head)
    assert result.exit_code == 2
    assert "--head" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("beyond", [0, 10**17])
def test_a_head_that_never_was_fails(app, runner, ann, beyond):
    result = verify(runner, f"{max(event_ids(app, ann)) + beyond}:{'0' * 64}")
    assert result.exit_code == 1
    assert "no longer match the head" in result.output


def test_an_empty_database_has_a_head_too(app, runner):
    head = take_head(runner)
    assert HEAD.match(head)[1] == "0"
    assert verify(runner, head).exit_code == 0


def test_batches_change_nothing_and_problems_show_in_every_batch(app, runner, visitor, outbox):
    ids = [sign_up_and_confirm(app, visitor, outbox, f"user{i}@example.org") for i in range(5)]
    with app.app_context():
        small = ledger.take_head(batch_size=2)
    assert str(small.head) == take_head(runner)
    rewrite_history(app, ids[0], event_ids(app, ids[0])[1], "admin")
    rewrite_history(app, ids[4], event_ids(app, ids[4])[0], "admin")
    with app.app_context():
        check = ledger.HeadCheck()
        problems = list(ledger.verify_head(small.head, check, batch_size=2))
    assert [(p.subscriber_id, p.event_id) for p in problems] == [
        (ids[0], event_ids(app, ids[0])[1]), (ids[4], event_ids(app, ids[4])[0]), (ids[4], event_ids(app, ids[4])[1])
    ]

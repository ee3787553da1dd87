"""The suppression list outlives a rotation of SECRET_KEY (SPEC §2 SUPPRESSION_KEY): without
SUPPRESSION_KEY its key is generated once and kept with the data, created race-safely."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from newsletter import create_app, instance_secrets, subscribers, suppression
from newsletter.extensions import db
from newsletter.models import InstanceSecret
from tests.support.admin import create_admin, post, sign_in
from tests.support.flows import sign_up, sign_up_and_confirm
from tests.support.visitor import Visitor

ERASED = "erased1@example.org"


@pytest.fixture
def restart(config, clock, tmp_path):
    """Start the service again on the same database, with changes to its settings."""
    started = []

    def start(**changes):
        again = create_app({**config, **changes}, clock_=clock, instance_path=str(tmp_path / f"again{len(started)}"))
        started.append(again)
        return again

    yield start
    for again in started:
        with again.app_context():
            db.session.remove()
            db.engine.dispose()


def erase(app, email: str) -> None:
    with app.app_context():
        subscribers.erase(subscribers.find_by_email(email), "admin")
        db.session.commit()


def test_an_erasure_survives_rotating_the_secret_key(app, config, restart, tmp_path, visitor, outbox):
    sign_up_and_confirm(app, visitor, outbox, ERASED)
    erase(app, ERASED)
    create_admin(app)

    again = restart(SECRET_KEY="a-new-secret", SECRET_KEY_FALLBACKS=[config["SECRET_KEY"]])
    admin = again.test_client()
    assert sign_in(admin).status_code == 302
    assert post(admin, "/admin/digests/test", {"email": ERASED}).status_code == 422  # still refused
    csv = tmp_path / "list.csv"
    csv.write_text(
        f"email,consented_at,confirmed_at,ip,source\n{ERASED},2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,,shop\n",
        encoding="utf-8",
    )
    result = again.test_cli_runner().invoke(args=["import-subscribers", str(csv)])
    assert "0 confirmed, 0 pending" in result.output and "1 suppressed" in result.output

    # The person herself may come back through the form; her confirmation lifts the suppression.
    outbox_again = again.extensions["mail_memory_outbox"]
    link = sign_up(again, Visitor(again.test_client()), outbox_again, ERASED)
    with again.app_context():
        assert suppression.is_suppressed(ERASED)
    Visitor(again.test_client()).confirm(link)
    with again.app_context():
        assert not suppression.is_suppressed(ERASED)
        assert subscribers.find_by_email(ERASED).status == "confirmed"


def test_a_configured_suppression_key_wins_and_changing_it_forgets_the_list(app, restart):
    with app.app_context():
        suppression.suppress(ERASED, "erased")
        db.session.commit()
    keyed = restart(SUPPRESSION_KEY="kept-outside-the-database")
    with keyed.app_context():
        assert not suppression.is_suppressed(ERASED)  # another key: another list (README says so)
        suppression.suppress(ERASED, "erased")
        db.session.commit()
    with restart(SECRET_KEY="a-new-secret", SUPPRESSION_KEY="kept-outside-the-database").app_context():
        assert suppression.is_suppressed(ERASED)
    with app.app_context():
        assert suppression.is_suppressed(ERASED)  # the generated key is still there for the first list


def test_checking_the_list_creates_no_key(app):
    with app.app_context():
        assert not suppression.is_suppressed(ERASED)
        assert suppression.suppressed_among([ERASED]) == set()
        suppression.lift(ERASED)
        db.session.commit()
        assert db.session.execute(select(func.count()).select_from(InstanceSecret)).scalar_one() == 0


def test_a_key_created_in_a_transaction_that_rolls_back_is_not_kept(app, restart):
    with app.app_context():
        suppression.suppress(ERASED, "erased")
        assert suppression.is_suppressed(ERASED)
        db.session.rollback()
        assert not suppression.is_suppressed(ERASED)
        suppression.suppress(ERASED, "erased")
        db.session.commit()
    with restart().app_context():
        assert suppression.is_suppressed(ERASED)


def secrets_stored(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(InstanceSecret.value)).scalars())


def test_a_second_process_takes_the_key_the_first_stored(app, restart):
    other = restart()
    with app.app_context():
        first = instance_secrets.get_or_create("suppression-key")
        db.session.commit()
    with other.app_context():  # it had not seen the key: its insert meets the stored one
        assert instance_secrets.get_or_create("suppression-key") == first
        db.session.commit()
    assert secrets_stored(app) == [first]


def test_two_processes_creating_the_key_at_once_end_with_one(app, restart):
    apps = [app, *(restart() for _ in range(3))]
    start = threading.Barrier(len(apps))
    keys: list[str] = []
    failures: list[BaseException] = []

    def create(each) -> None:
        try:
            with each.app_context():
                start.wait()
                key = instance_secrets.get_or_create("suppression-key")
                db.session.commit()
                keys.append(key)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    threads = [threading.Thread(target=create, args=(each,)) for each in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(keys)) == 1 and secrets_stored(app) == keys[:1]


def test_the_key_is_read_once_per_app(app, visitor, outbox):
    sign_up_and_confirm(app, visitor, outbox, ERASED)
    erase(app, ERASED)
    with app.app_context():
        assert suppression.is_suppressed(ERASED)
    assert app.extensions["instance_secrets"] == {"suppression-key": secrets_stored(app)[0]}

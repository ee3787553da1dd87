"""`flask db upgrade` builds on an empty database exactly the schema the models describe."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from newsletter import create_app, suppression
from newsletter.extensions import db, enable_migrations
from newsletter.models import DeliveryStatus
from tests.support.database import TEST_DATABASE_URI


@pytest.fixture
def empty_database_uri(tmp_path):
    if not TEST_DATABASE_URI or TEST_DATABASE_URI.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    url = make_url(TEST_DATABASE_URI)
    name = f"{url.database}_migrations"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migrated_app(empty_database_uri, tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_uri}, instance_path=str(tmp_path))
    enable_migrations(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_matches_the_models(migrated_app):
    with migrated_app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []


def test_downgrade_to_base_and_up_again(migrated_app):
    with migrated_app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "subscriber" in inspect(db.engine).get_table_names()


def test_cli_db_upgrade_on_an_empty_database(migrated_app):
    result = migrated_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with migrated_app.app_context():
        assert {"subscriber", "consent_event", "delivery"} <= set(inspect(db.engine).get_table_names())


def test_an_existing_suppression_list_keeps_matching_after_the_upgrade_and_a_key_rotation(migrated_app, tmp_path):
    migrated_app.config["SECRET_KEY"] = "the-secret-before-0003"
    with migrated_app.app_context():
        upgrade(revision="0002")
        # The suppression list as the service kept it before 0003: keyed by a key derived from SECRET_KEY.
        old_key = hmac.new(b"the-secret-before-0003", b"suppression", hashlib.sha256).digest()
        old_hash = hmac.new(old_key, b"erased1@example.org", hashlib.sha256).hexdigest()
        db.session.execute(
            text("INSERT INTO suppression (address_hash, reason, created_at) VALUES (:hash, 'erased', :at)"),
            {"hash": old_hash, "at": datetime(2026, 1, 5, 12, 0)},
        )
        db.session.commit()
        upgrade()
        assert suppression.is_suppressed("erased1@example.org")
        assert not suppression.is_suppressed("someone@example.org")
    rotated = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_app.config["SQLALCHEMY_DATABASE_URI"],
         "SECRET_KEY": "a-new-secret", "SECRET_KEY_FALLBACKS": ["the-secret-before-0003"]},
        instance_path=str(tmp_path / "rotated"),
    )
    with rotated.app_context():
        assert suppression.is_suppressed("erased1@example.org")
        db.session.remove()
        db.engine.dispose()


def test_a_database_without_a_suppression_list_gets_its_key_on_first_use(migrated_app):
    with migrated_app.app_context():
        upgrade()
        assert db.session.execute(text("SELECT COUNT(*) FROM instance_secret")).scalar_one() == 0


def test_consent_event_ids_are_never_reused_after_the_upgrade(migrated_app):
    """Evidence heads name events by id: the newest event purged, its id stays taken (SQLite
    needs AUTOINCREMENT for that; PostgreSQL's sequences never reuse)."""
    insert = (
        "INSERT INTO consent_event (subscriber_id, type, at, channel, personal_digest, prev_hash, hash)"
        " VALUES (1, 'requested', :at, 'form', '', '', '')"
    )
    with migrated_app.app_context():
        upgrade()
        at = {"at": datetime(2026, 1, 5, 12, 0)}
        db.session.execute(
            text("INSERT INTO subscriber (id, status, locale, confirm_nonce, access_nonce, created_at, bounce_count,"
                 " evidence_head) VALUES (1, 'pending', 'de', 'a', 'b', :at, 0, '')"),
            at,
        )
        db.session.execute(text(insert), at)
        db.session.execute(text(insert), at)
        db.session.execute(text("DELETE FROM consent_event WHERE id = 2"))
        db.session.execute(text(insert), at)
        assert db.session.execute(text("SELECT MAX(id) FROM consent_event")).scalar_one() == 3
        with pytest.raises(IntegrityError):  # the enum columns' CHECK constraints survived
            with db.session.begin_nested():
                db.session.execute(text(insert.replace("'form'", "'carrier-pigeon'")), at)
        db.session.rollback()


def test_every_delivery_status_fits_the_upgraded_database(migrated_app):
    """0005 lets delivery.status be 'held' (a stopped digest's mails) and keeps refusing what is
    no status, and the open-rows index; a downgrade queues the held mails again."""
    insert = (
        "INSERT INTO delivery (kind, context, status, attempts, created_at, next_attempt_at)"
        " VALUES ('digest', '{}', :status, 0, :at, :at)"
    )
    at = datetime(2026, 1, 5, 12, 0)
    with migrated_app.app_context():
        upgrade(revision="0005")
        for status in DeliveryStatus:
            db.session.execute(text(insert), {"status": status.value, "at": at})
        with pytest.raises(IntegrityError):
            with db.session.begin_nested():
                db.session.execute(text(insert), {"status": "lost", "at": at})
        db.session.commit()
        assert "ix_delivery_open" in {index["name"] for index in inspect(db.engine).get_indexes("delivery")}
        downgrade(revision="0004")
        statuses = db.session.execute(text("SELECT status FROM delivery ORDER BY id")).scalars().all()
        assert statuses == [str(status) if status is not DeliveryStatus.HELD else "queued" for status in DeliveryStatus]
        with pytest.raises(IntegrityError):
            with db.session.begin_nested():
                db.session.execute(text(insert), {"status": "held", "at": at})
        db.session.rollback()


def test_delivery_rows_leave_room_for_hot_updates_on_postgresql(migrated_app):
    """Counting a hand-over changes no indexed column: with room on the row's page it is a HOT
    update (no new index entries); about a third were not at the default fillfactor."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from newsletter.models import Delivery

    assert "WITH (fillfactor = 70)" in str(CreateTable(Delivery.__table__).compile(dialect=postgresql.dialect()))
    with migrated_app.app_context():
        upgrade()
        if db.engine.dialect.name != "postgresql":
            return  # SQLite has no fillfactor
        options = db.session.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'delivery'")).scalar()
        assert "fillfactor=70" in (options or [])
        downgrade(revision="0013")
        assert db.session.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'delivery'")).scalar() is None
        db.session.remove()

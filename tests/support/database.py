"""The test database: SQLite in a temporary file per test, unless NEWSLETTER_TEST_DATABASE_URI
names another (``.ci/run`` runs the whole suite again against PostgreSQL that way)."""

from __future__ import annotations

import os

from sqlalchemy import text

from newsletter.extensions import db

TEST_DATABASE_URI = os.environ.get("NEWSLETTER_TEST_DATABASE_URI")
_schema_ready: set[str] = set()


def reset_database(uri: str) -> None:
    """A fresh, empty schema for each test; on a server database, create once, then truncate.
    Call inside the app's context."""
    if uri.startswith("sqlite"):
        db.create_all()
        return
    if uri not in _schema_ready:
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
        _schema_ready.add(uri)
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))

"""Writing many rows at once on PostgreSQL: ids taken ahead from the sequence, rows by COPY.

A multi-row INSERT of a thousand rows carries ten thousand placeholders, which psycopg splits
in Python and PostgreSQL parses and plans; COPY streams the same rows at a fraction of the
cost. Taking the ids first lets a caller put values that depend on a row's id (a hash over
it, say) into the same row, instead of updating every row again after the insert.

Both run inside the session's transaction. Other databases use plain inserts
(:func:`can_copy` says which).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Insert, Table, text
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def insert_or_ignore(table: Table) -> Insert:
    """An INSERT into ``table`` that skips each row whose key is taken already (the row there
    stays as it is); its rowcount says how many went in."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def can_copy() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def reserve_ids(table: Table, count: int) -> list[int]:
    """``count`` new primary keys of ``table`` from its sequence, ascending; never reused."""
    rows = db.session.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
        {"table": table.name, "count": count},
    ).scalars()
    return sorted(rows)


def copy_rows(table: Table, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
    """COPY ``rows`` (dicts keyed by column name) into ``table``.

    Each value passes the column type's own conversion first (enums to their value, aware
    times to naive UTC, JSON to text), exactly as an INSERT through SQLAlchemy would.
    """
    connection = db.session.connection()
    dialect = connection.dialect
    converters = []
    for name in columns:
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        converters.append((name, processor))
    cursor = connection.connection.driver_connection.cursor()
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({quoted}) FROM STDIN"
    with cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([
                row[name] if processor is None or row[name] is None else processor(row[name])
                for name, processor in converters
            ])

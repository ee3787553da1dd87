"""The SQL statements a piece of work sends, counted with SQLAlchemy's cursor events."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from newsletter.extensions import db

_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)", re.I)


@contextmanager
def recorded_statements(app) -> Iterator[list[str]]:
    """Every statement sent on ``app``'s engine inside the block (BEGIN included), in order."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def note(_connection, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def writes(statements: list[str]) -> list[str]:
    """The writing statements among ``statements``, as ``"INSERT INTO table"`` and the like."""
    return [f"{m[1].upper()} {m[2]}" for s in statements if (m := _WRITE.match(s))]

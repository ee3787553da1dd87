"""Evidence heads: one digest over every consent event, kept outside the database, so that
whoever can write the database cannot rewrite the evidence quietly (``flask evidence-head``,
``flask verify-evidence --head``).

The hash chains (:mod:`.evidence`) show a changed or removed event only to someone who did not
also recompute the chain; with write access one can. A head closes that gap: it is
``<N>:<digest>``, the SHA-256 over one line per event with an id up to N, in id order:
``"<event id> <subscriber id> <type> <chain hash>\\n"``. The operator keeps it elsewhere; later,
the same lines computed from the rows present must give the same digest.

Events come and go for two reasons that are no tampering, and a head allows for both:

- Events added later have higher ids (ids are never reused: PostgreSQL sequences, SQLite
  AUTOINCREMENT). Taking a head first waits for every transaction still writing events, so
  no event with an id up to N can commit afterwards.
- The retention purge deletes never-confirmed sign-ups whole. So that a head taken before
  still verifies, ``evidence_ledger`` keeps a line for every event a head covered (written by
  the head, never changed, kept when the event goes; nothing personal in it). A line without
  its row counts as purged if its type is ``requested`` (the only events of a never-confirmed
  sign-up); any other missing event was removed.

The ledger also names what changed: when its lines up to N give the head's digest, they are
exactly what the head saw, and each row that differs from its line is named. Someone who also
rewrote the ledger is still caught (the digest differs), just no longer by event. What a head
cannot tell apart from the purge: the removal of requests that were, at the head, a still
unconfirmed sign-up's. Erasure changes nothing here: it scrubs columns outside the hash.

Events and ledger lines are read in batches by id, each batch its own transaction, so memory
stays flat and SQLite's write lock is held only briefly. Like :func:`newsletter.retention.purge`,
:func:`take_head` commits after each batch (the ledger lines it adds).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, String, func, insert, literal, select, text, type_coerce

from . import bulk, clock
from .evidence import Problem
from .extensions import db
from .models import ConsentEvent, ConsentEventType, EvidenceLedgerLine

BATCH_SIZE = 5000
#: Named problems kept for one check; beyond that they are counted.
MAX_NAMED = 1000

CHANGED_SINCE = "changed since the head was taken"
REMOVED_SINCE = "removed since the head was taken (the purge removes only never-confirmed sign-ups' requests)"
ADDED_BEFORE = "not there when the head was taken, though its id is one that head covered"
NOT_NAMED = (
    "the events up to event {last} no longer match the head {head}: events were changed or removed"
    " since, and the head's record (table evidence_ledger) was changed too, so they cannot be named"
)
MORE = "and {count} more events changed or removed since the head was taken"
RECORD_CHANGED = (
    "note: the head's record (table evidence_ledger) was changed at event {event}; the evidence itself"
    " still matches the head"
)


@dataclass(frozen=True)
class Head:
    """``<last event id>:<sha256 hex>``: what ``flask evidence-head`` prints."""

    last_event_id: int
    digest: str

    FORMAT = re.compile(r"(\d{1,18}):([0-9a-f]{64})")

    @classmethod
    def parse(cls, value: str) -> Head:
        match = cls.FORMAT.fullmatch(value.strip().lower())
        if match is None:
            raise ValueError("an evidence head looks like 1234:<64 hex digits>, as evidence-head prints it")
        return cls(int(match[1]), match[2])

    def __str__(self) -> str:
        return f"{self.last_event_id}:{self.digest}"


class Line(NamedTuple):
    """One event as a head covers it."""

    event_id: int
    subscriber_id: int
    type: str
    hash: str

    def encoded(self) -> bytes:
        return f"{self.event_id} {self.subscriber_id} {self.type} {self.hash}\n".encode()

    @property
    def purgeable(self) -> bool:
        return self.type == ConsentEventType.REQUESTED


@dataclass
class TakenHead:
    head: Head
    at: datetime
    events: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class HeadCheck:
    """Counts of one ``verify_head``."""

    events: int = 0
    purged: int = 0
    problems: int = 0
    #: Set when the ledger was changed but the evidence still matches.
    note: str | None = None


def take_head(batch_size: int = BATCH_SIZE) -> TakenHead:
    """A head over every event now; adds the ledger lines of the events it covers first.

    Events that no longer match the lines an earlier head recorded come back as ``problems``
    (then the head must not be handed out). Commits after each batch.
    """
    last = _settled_last_id()
    recorded_up_to = _highest(EvidenceLedgerLine.event_id)
    taken = TakenHead(Head(last, ""), clock.now())
    digest = hashlib.sha256()
    for batch in _batches(last, batch_size, writing=True):
        new = []
        for event_id, row, line in batch:
            message = _difference(row, line, recorded=event_id <= recorded_up_to)
            if message is not None:
                message = message.replace("the head", "an earlier head", 1)
                taken.problems.append(Problem((row or line).subscriber_id, event_id, message))
            if line is None:
                new.append(row)
            digest.update((row or line).encoded())
            taken.events += 1
        _record(new)
        db.session.commit()
    taken.head = Head(last, digest.hexdigest())
    return taken


def verify_head(head: Head, check: HeadCheck | None = None, batch_size: int = BATCH_SIZE) -> Iterator[Problem]:
    """Every event covered by ``head`` that was changed or removed since; counts go to ``check``.

    Read-only; ends the read transaction after each batch.
    """
    check = check if check is not None else HeadCheck()
    evidence_digest, ledger_digest = hashlib.sha256(), hashlib.sha256()
    named: list[Problem] = []
    unnamed = 0
    first_record_change: int | None = None
    for batch in _batches(head.last_event_id, batch_size):
        for event_id, row, line in batch:
            check.events += 1
            evidence_digest.update((row or line).encoded())
            if line is not None:
                ledger_digest.update(line.encoded())
            if row is None and line is not None and line.purgeable:
                check.purged += 1
            message = _difference(row, line, recorded=True)
            if message is None:
                continue
            if first_record_change is None and message != REMOVED_SINCE:
                first_record_change = event_id
            if len(named) < MAX_NAMED:
                named.append(Problem((row or line).subscriber_id, event_id, message))
            else:
                unnamed += 1
        db.session.rollback()  # end the read transaction; nothing was written
    if ledger_digest.hexdigest() == head.digest:  # the ledger is what the head saw: name each event
        reported = named
    elif evidence_digest.hexdigest() == head.digest:
        # The lines of the missing events went into the matching digest, so those are genuine.
        reported = [problem for problem in named if problem.message == REMOVED_SINCE]
        unnamed = 0 if len(reported) < MAX_NAMED else unnamed
        if first_record_change is not None:
            check.note = RECORD_CHANGED.format(event=first_record_change)
    else:
        reported, unnamed = [Problem(None, None, NOT_NAMED.format(last=head.last_event_id, head=head))], 0
    check.problems = len(reported) + unnamed
    yield from reported
    if unnamed:
        yield Problem(None, None, MORE.format(count=unnamed))


def _difference(row: Line | None, line: Line | None, *, recorded: bool) -> str | None:
    """What happened to an event since its ledger line was written, if anything.

    ``recorded``: the ledger covers this id (a head was taken over it)."""
    if row is not None and line is not None:
        return None if row == line else CHANGED_SINCE
    if row is not None:
        return ADDED_BEFORE if recorded else None
    assert line is not None
    return None if line.purgeable else REMOVED_SINCE


def _record(lines: list[Line]) -> None:
    if not lines:
        return
    table = EvidenceLedgerLine.__table__
    rows = [line._asdict() for line in lines]
    if bulk.can_copy():
        bulk.copy_rows(table, rows, columns=list(Line._fields))
    else:
        db.session.execute(insert(table), rows)


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _settled_last_id() -> int:
    """The highest event id such that no event up to it can still appear; ends the transaction.

    On PostgreSQL a transaction may hold an id and commit after a later one: waiting for the
    SHARE lock lets every transaction that is writing events finish (and holds new ones back
    for the moment it takes to read the highest id). SQLite has one writer at a time anyway.
    """
    if _postgresql():
        db.session.execute(text("SET LOCAL lock_timeout = '60s'"))
        db.session.execute(text(f"LOCK TABLE {ConsentEvent.__tablename__} IN SHARE MODE"))
    last = max(_highest(ConsentEvent.id), _highest(EvidenceLedgerLine.event_id))
    db.session.commit()
    return last


#: Where the first batch starts: ids of 0 or below are no ids the service gives, but a row
#: slipped in under one is still no event the head saw.
_BELOW_EVERY_ID = -(2**63)


def _highest(column: Any) -> int:
    return db.session.execute(select(func.coalesce(func.max(column), 0))).scalar_one()


Pair = tuple[int, Line | None, Line | None]


def _batches(last: int, batch_size: int, *, writing: bool = False) -> Iterator[list[Pair]]:
    """(event id, its row's line, its ledger line) for every id up to ``last`` that has either,
    in id order, a batch at a time; the caller ends the transaction after each.

    ``writing``: the caller adds the ledger lines that are missing, so no other head may add
    lines between this batch's read and its commit (SQLite: every transaction here is
    BEGIN IMMEDIATE already; PostgreSQL: a lock only writers of the ledger take, not readers).
    """
    after = _BELOW_EVERY_ID
    while after < last:
        if writing and _postgresql():
            db.session.execute(text(f"LOCK TABLE {EvidenceLedgerLine.__tablename__} IN SHARE ROW EXCLUSIVE MODE"))
        rows = _lines(ConsentEvent.__table__, after, last, batch_size)
        recorded = _lines(EvidenceLedgerLine.__table__, after, last, batch_size)
        # Both lists are complete up to the smaller of their last ids (or ``last`` when short).
        end = min(
            rows[-1].event_id if len(rows) == batch_size else last,
            recorded[-1].event_id if len(recorded) == batch_size else last,
        )
        by_row = {line.event_id: line for line in rows if line.event_id <= end}
        by_record = {line.event_id: line for line in recorded if line.event_id <= end}
        yield [(event_id, by_row.get(event_id), by_record.get(event_id)) for event_id in sorted(by_row | by_record)]
        after = end


def _lines(table: Any, after: int, last: int, batch_size: int) -> list[Line]:
    """The lines of ``table`` (consent_event or evidence_ledger) for ids after ``after``."""
    id_column, subscriber_id, type, digest = (table.c[name] for name in _COLUMNS[table.name])
    # Core columns, the type as its plain value: no ORM or enum work for each of many rows.
    found = db.session.execute(
        select(id_column, subscriber_id, type_coerce(type, String), digest)
        .where(id_column > literal(after, BigInteger), id_column <= literal(last, BigInteger))
        .order_by(id_column)
        .limit(batch_size)
    )
    return list(map(Line._make, found))


_COLUMNS = {
    ConsentEvent.__tablename__: ("id", "subscriber_id", "type", "hash"),
    EvidenceLedgerLine.__tablename__: Line._fields,
}

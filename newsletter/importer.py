"""Bulk import of subscribers from CSV (SPEC §5: ``import-subscribers``).

Columns ``email,consented_at,confirmed_at,ip,source``, or another tool's export of them
(:mod:`newsletter.import_columns`). A row with both times is evidence of a
double opt-in done elsewhere: the address becomes confirmed with an ``imported`` event that
carries the original times, IP and source. A row without it becomes pending and gets a
confirmation mail, like a sign-up. Known and suppressed addresses are left alone, so running
the same file twice changes nothing. Bad rows are reported by line number and skipped; rows
the other tool marks as having left (blocklisted, withdrawn) are left out. A dry run reads and
judges every row the same way and writes nothing.

Rows are read as a stream and written in batches, one transaction per batch, so memory stays
flat and a failure loses at most the batch in flight.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from . import clock, consent, feeddates, subscribers, suppression
from .addresses import normalise_email
from .csvlayout import unneutralise
from .extensions import db
from .import_columns import LEFT_OUT, STATUS
from .models import ConsentChannel, Subscriber, SubscriberStatus
from .webhooks import events

BATCH_SIZE = 1000


class LeftOut(ValueError):
    """A row the other tool marks as having left the list: not imported, and not an error."""


@dataclass
class ImportReport:
    confirmed: int = 0
    pending: int = 0
    unchanged: int = 0
    suppressed: int = 0
    #: (line number, what is wrong)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    #: (line number, why): rows of people who left the list in the other tool
    left_out: list[tuple[int, str]] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.confirmed + self.pending


@dataclass
class _Row:
    line: int
    email: str
    consented_at: datetime | None
    confirmed_at: datetime | None
    ip: str | None
    source: str | None

    @property
    def has_evidence(self) -> bool:
        return self.consented_at is not None and self.confirmed_at is not None


def import_rows(
    rows: Iterable[tuple[int, dict[str | None, str | None]]],
    *,
    dry_run: bool = False,
    time_zone: str | None = None,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``(line number, row)`` pairs, committing after each batch; with ``dry_run``,
    count what would happen and write nothing.

    :param time_zone: of times written without a zone (default TIMEZONE).
    """
    report = ImportReport()
    planned: set[str] = set()  # a dry run's addresses that a real run would have written by now
    for batch in _batches(_parse(rows, report, time_zone), BATCH_SIZE):
        if dry_run:
            _plan_batch(batch, report, planned)
        else:
            _import_batch(batch, report)
            db.session.commit()
        if on_batch:
            on_batch(report)
    return report


def import_one(values: dict[str, str | None]) -> ImportReport:
    """One row given otherwise than in a file (the API's ``POST /subscribers`` with evidence),
    imported by the same rules as a CSV row. Flushes, never commits.

    :raises ValueError: what is wrong with the row, as a CSV import reports it.
    """
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    row = _parse_row(0, values, zone, clock.now() + timedelta(days=1))
    report = ImportReport()
    _import_batch([row], report)
    return report


def _parse(
    rows: Iterable[tuple[int, dict[str | None, str | None]]], report: ImportReport, time_zone: str | None
) -> Iterator[_Row]:
    zone = ZoneInfo(time_zone or current_app.config["TIMEZONE"])
    latest = clock.now() + timedelta(days=1)
    for line, raw in rows:
        try:
            yield _parse_row(line, raw, zone, latest)
        except LeftOut as exc:
            report.left_out.append((line, str(exc)))
        except ValueError as exc:
            report.bad_rows.append((line, str(exc)))


def _parse_row(line: int, raw: dict[str | None, str | None], zone: ZoneInfo, latest: datetime) -> _Row:
    if None in raw:  # csv puts surplus fields under the key None
        raise ValueError("more fields than columns")
    values = {key: unneutralise(value or "").strip() for key, value in raw.items()}  # our download's cells too
    left = LEFT_OUT.get(values.pop(STATUS, "").lower())
    if left is not None:
        raise LeftOut(left)
    if any("\r" in value or "\n" in value for value in values.values()):
        raise ValueError("line breaks inside a field")
    try:
        email = normalise_email(values.get("email", ""))
    except ValueError as exc:
        raise ValueError(f"invalid email {values.get('email', '')!r}: {exc}") from None
    consented_at = _parse_time(values.get("consented_at", ""), "consented_at", zone, latest)
    confirmed_at = _parse_time(values.get("confirmed_at", ""), "confirmed_at", zone, latest)
    if consented_at and confirmed_at and confirmed_at < consented_at:
        raise ValueError("confirmed_at is before consented_at")
    ip = values.get("ip") or None
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise ValueError(f"invalid ip {ip!r}") from None
    source = values.get("source") or None
    if source is not None and len(source) > 64:
        raise ValueError("source is longer than 64 characters")
    return _Row(line, email, consented_at, confirmed_at, ip, source)


def _parse_time(value: str, column: str, zone: ZoneInfo, latest: datetime) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = feeddates.parse(value, zone)  # 03.06.2024 12:00, as German spreadsheets write it
        if moment is None:
            raise ValueError(f"{column} {value!r} is not a time (2024-06-03 12:00 or 03.06.2024 12:00)") from None
    if not clock.holdable(moment):
        raise ValueError(f"{column} {value!r} lies outside the years {clock.EARLIEST_YEAR} to {clock.LATEST_YEAR}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(UTC)
    if moment > latest:
        raise ValueError(f"{column} {value!r} lies in the future")
    return moment


def _batches(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _fresh_rows(batch: list[_Row], report: ImportReport, planned: set[str] = frozenset()) -> list[_Row]:
    """The batch's rows of addresses neither known, nor suppressed, nor repeated (counted)."""
    unique: dict[str, _Row] = {}
    for row in batch:
        if row.email in unique or row.email in planned:
            report.unchanged += 1  # the same address twice in one file: the first row counts
        else:
            unique[row.email] = row
    known = set(db.session.execute(select(Subscriber.email).where(Subscriber.email.in_(list(unique)))).scalars())
    blocked = suppression.suppressed_among([email for email in unique if email not in known])
    report.unchanged += len(known)
    report.suppressed += len(blocked)
    return [row for email, row in unique.items() if email not in known and email not in blocked]


def _plan_batch(batch: list[_Row], report: ImportReport, planned: set[str]) -> None:
    """Count what :func:`_import_batch` would do, writing nothing."""
    fresh = _fresh_rows(batch, report, planned)
    planned.update(row.email for row in fresh)
    report.confirmed += sum(1 for row in fresh if row.has_evidence)
    report.pending += sum(1 for row in fresh if not row.has_evidence)


def _import_batch(batch: list[_Row], report: ImportReport) -> None:
    fresh = _fresh_rows(batch, report)
    _import_confirmed([row for row in fresh if row.has_evidence], report)
    for row in fresh:
        if not row.has_evidence:
            subscribers.request_subscription(
                row.email, text=None, locale=current_app.config["LANGUAGES"][0],
                ip=None, user_agent=None, channel=ConsentChannel.IMPORT,
            )
            report.pending += 1


def _import_confirmed(rows: list[_Row], report: ImportReport) -> None:
    locale = current_app.config["LANGUAGES"][0]
    consent.import_confirmed([
        consent.ImportedConsent(
            email=row.email, locale=locale, source=row.source, ip=row.ip,
            consented_at=row.consented_at, confirmed_at=row.confirmed_at,
        )
        for row in rows
    ])
    report.confirmed += len(rows)
    if rows:
        _emit_confirmed([row.email for row in rows])


def _emit_confirmed(emails: list[str]) -> None:
    imported = db.session.execute(select(Subscriber.id, Subscriber.email).where(Subscriber.email.in_(emails)))
    events.emit_many(
        events.CONFIRMED,
        [(events.subscriber_data(id, email, SubscriberStatus.CONFIRMED), id) for id, email in imported],
    )

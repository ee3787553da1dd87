"""Bulk import of subscribers from CSV (SPEC §5: ``import-subscribers``).

Columns ``email,consented_at,confirmed_at,ip,source``. A row with both times is evidence of a
double opt-in done elsewhere: the address becomes confirmed with an ``imported`` event that
carries the original times, IP and source. A row without it becomes pending and gets a
confirmation mail, like a sign-up. Known and suppressed addresses are left alone, so running
the same file twice changes nothing. Bad rows are reported by line number and skipped.

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

from . import clock, consent, subscribers, suppression
from .addresses import normalise_email
from .extensions import db
from .models import ConsentChannel, Subscriber

COLUMNS = ("email", "consented_at", "confirmed_at", "ip", "source")
BATCH_SIZE = 1000


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (e.g. no ``email`` column)."""


@dataclass
class ImportReport:
    confirmed: int = 0
    pending: int = 0
    unchanged: int = 0
    suppressed: int = 0
    #: (line number, what is wrong)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)


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


def check_header(fieldnames: list[str] | None) -> None:
    if not fieldnames or "email" not in fieldnames:
        raise ImportFileError(f"the first line must name the columns {','.join(COLUMNS)}; found {fieldnames!r}")
    unknown = [name for name in fieldnames if name not in COLUMNS]
    if unknown:
        raise ImportFileError(f"unknown columns {', '.join(unknown)}; expected {','.join(COLUMNS)}")


def import_rows(
    rows: Iterable[tuple[int, dict[str, str | None]]],
    *,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import ``(line number, row)`` pairs, committing after each batch."""
    report = ImportReport()
    for batch in _batches(_parse(rows, report), BATCH_SIZE):
        _import_batch(batch, report)
        db.session.commit()
        if on_batch:
            on_batch(report)
    return report


def _parse(rows: Iterable[tuple[int, dict[str, str | None]]], report: ImportReport) -> Iterator[_Row]:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    latest = clock.now() + timedelta(days=1)
    for line, raw in rows:
        try:
            yield _parse_row(line, raw, zone, latest)
        except ValueError as exc:
            report.bad_rows.append((line, str(exc)))


def _parse_row(line: int, raw: dict[str, str | None], zone: ZoneInfo, latest: datetime) -> _Row:
    if None in raw:  # csv puts surplus fields under the key None
        raise ValueError("more fields than columns")
    values = {key: (value or "").strip() for key, value in raw.items()}
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
        raise ValueError(f"{column} {value!r} is not an ISO 8601 time") from None
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


def _import_batch(batch: list[_Row], report: ImportReport) -> None:
    unique: dict[str, _Row] = {}
    for row in batch:
        if row.email in unique:
            report.unchanged += 1  # the same address twice in one file: the first row counts
        else:
            unique[row.email] = row
    known = set(db.session.execute(select(Subscriber.email).where(Subscriber.email.in_(list(unique)))).scalars())
    blocked = suppression.suppressed_among([email for email in unique if email not in known])
    report.unchanged += len(known)
    report.suppressed += len(blocked)
    fresh = [row for email, row in unique.items() if email not in known and email not in blocked]
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

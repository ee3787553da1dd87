"""Commands about subscribers and their evidence."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click
from flask.cli import with_appcontext

from .. import csvlayout, import_columns, importer, personal_data, subscribers
from .params import email_argument


@click.command("export-subscriber")
@click.argument("email", callback=email_argument)
@with_appcontext
def export_subscriber(email: str) -> None:
    """Print everything held on EMAIL as JSON, consent events included (SPEC §7)."""
    subscriber = subscribers.find_by_email(email)
    if subscriber is None:
        raise click.ClickException(f"no subscriber with the address {email}")
    click.echo(json.dumps(personal_data.export(subscriber), indent=2, ensure_ascii=False))


def _lines(handle: TextIO, bar) -> Iterator[str]:
    for line in handle:
        bar.update(len(line))
        yield line


@click.command("import-subscribers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Read and judge every row, say what would happen, change nothing.")
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad (exit 1).")
@with_appcontext
def import_subscribers(file: Path, dry_run: bool, strict: bool) -> None:
    """Import subscribers from a CSV FILE with columns email,consented_at,confirmed_at,ip,source
    (or Mailchimp's or listmonk's export; commas or semicolons; UTF-8 or Windows-1252).

    Rows with both times become confirmed (an `imported` event keeps the original evidence);
    rows without them become pending and get a confirmation mail. Known addresses are left
    alone, bad rows are named by line number and skipped: the exit status is 0 when rows were
    imported, 1 when bad rows left nothing to import (with --strict: when any row is bad, and
    then nothing is imported).
    """
    layout = csvlayout.detect(file)
    if strict:
        checked = _read(file, layout, dry_run=True, announce=False)
        if checked.bad_rows:
            _tell_bad_rows(checked)
            raise click.ClickException(f"{len(checked.bad_rows)} bad rows: nothing imported (--strict)")
    report = _read(file, layout, dry_run=dry_run, announce=True)
    would = "would import" if dry_run else "imported"
    click.echo(
        f"{would} {report.confirmed} confirmed, {report.pending} pending (confirmation mail"
        f"{' would be' if dry_run else ''} queued); {report.unchanged} already known, {report.suppressed} suppressed,"
        f" {len(report.left_out)} left out, {len(report.bad_rows)} bad rows"
        + (f" (lines {_lines_named(report.bad_rows)})" if report.bad_rows else "")
    )
    for line, why in report.left_out:
        click.echo(f"line {line}: left out: {why}")
    _tell_bad_rows(report)
    if dry_run:
        click.echo("dry run: nothing was changed")
    if report.bad_rows and report.imported == 0:
        raise SystemExit(1)


def _read(file: Path, layout: csvlayout.Layout, *, dry_run: bool, announce: bool) -> importer.ImportReport:
    try:
        with (
            file.open(newline="", encoding=layout.encoding) as handle,
            click.progressbar(length=file.stat().st_size, label="reading" if dry_run else "importing") as bar,
        ):
            reader = csv.DictReader(_lines(handle, bar), delimiter=layout.delimiter)
            columns = import_columns.of_header(reader.fieldnames)
            if announce:
                _announce(layout, columns)
            rows = ((reader.line_num, columns.row(raw)) for raw in reader)
            return importer.import_rows(rows, dry_run=dry_run, time_zone=columns.time_zone)
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"{file} cannot be read as {layout.encoding} ({exc.reason} at byte {exc.start})"
        ) from None
    except csv.Error as exc:
        raise click.ClickException(f"{file} is not valid CSV: {exc}") from None
    except import_columns.ColumnsError as exc:
        raise click.ClickException(str(exc)) from None


def _announce(layout: csvlayout.Layout, columns: import_columns.Columns) -> None:
    what = f"{columns.tool}'s export" if columns.tool else "CSV"
    click.echo(f"reading {what} ({layout.describe()})", err=True)
    if columns.ignored:
        click.echo(f"columns not imported: {', '.join(columns.ignored)}", err=True)


def _tell_bad_rows(report: importer.ImportReport) -> None:
    for line, problem in report.bad_rows:
        click.echo(f"line {line}: {problem}", err=True)


def _lines_named(rows: list[tuple[int, str]], most: int = 10) -> str:
    named = ", ".join(str(line) for line, _problem in rows[:most])
    return named + (f" and {len(rows) - most} more" if len(rows) > most else "")


COMMANDS = [export_subscriber, import_subscribers]

"""Commands about subscribers and their evidence."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click
from flask.cli import with_appcontext

from .. import importer, personal_data, subscribers
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
@with_appcontext
def import_subscribers(file: Path) -> None:
    """Import subscribers from a CSV FILE with columns email,consented_at,confirmed_at,ip,source.

    Rows with both times become confirmed (an `imported` event keeps the original evidence);
    rows without them become pending and get a confirmation mail. Known addresses are left
    alone, bad rows are reported by line number and skipped.
    """
    try:
        with (
            file.open(newline="", encoding="utf-8-sig") as handle,
            click.progressbar(length=file.stat().st_size, label="importing") as bar,
        ):
            reader = csv.DictReader(_lines(handle, bar))
            importer.check_header(reader.fieldnames)
            report = importer.import_rows((reader.line_num, row) for row in reader)
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise click.ClickException(f"{file} is not valid CSV: {exc}") from None
    except importer.ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"imported {report.confirmed} confirmed, {report.pending} pending (confirmation mail queued); "
        f"{report.unchanged} already known, {report.suppressed} suppressed, {len(report.bad_rows)} bad rows"
    )
    for line, problem in report.bad_rows:
        click.echo(f"line {line}: {problem}", err=True)
    if report.bad_rows:
        raise SystemExit(1)


COMMANDS = [export_subscriber, import_subscribers]

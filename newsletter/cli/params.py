"""Argument parsing shared by the commands."""

from __future__ import annotations

from datetime import datetime

import click

from ..addresses import normalise_email


def email_argument(_ctx, _param, value: str) -> str:
    """click callback: a normalised address, or a usage error saying what is wrong."""
    try:
        return normalise_email(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def iso_datetime(_ctx, _param, value: str | None) -> datetime | None:
    """click callback: an ISO 8601 time as given (naive if it names no zone), or a usage error."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time;"
            " write e.g. 2026-03-02T09:30 or 2026-03-02T08:30:00+00:00"
        ) from exc

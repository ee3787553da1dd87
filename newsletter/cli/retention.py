"""Applying the retention rules by hand (the worker does it daily)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import retention


@click.command("purge")
@with_appcontext
def purge() -> None:
    """Apply the retention rules now: delete never-confirmed sign-ups, erase withdrawn
    consent's evidence after EVIDENCE_RETENTION_DAYS, drop expired mail-cap records."""
    click.echo(f"purge: {retention.purge()}")


COMMANDS = [purge]

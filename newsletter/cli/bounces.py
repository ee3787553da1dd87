"""Bounce reports and DKIM: ``process-bounces`` and ``dkim-record``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import bounce_reports
from ..delivery import dkim


@click.command("process-bounces")
@with_appcontext
def process_bounces() -> None:
    """Process the bounce and complaint reports stored by the worker's listener and not yet
    processed (the worker does this every SEND_INTERVAL_SECONDS itself)."""
    total = 0
    while processed := bounce_reports.process_waiting():
        total += processed
    click.echo(f"{total} report(s) processed")


@click.command("dkim-record")
@with_appcontext
def dkim_record() -> None:
    """Print the DNS TXT record that publishes the DKIM key (DKIM_DOMAIN, DKIM_SELECTOR,
    DKIM_PRIVATE_KEY_FILE)."""
    signer = dkim.signer(current_app)
    if signer is None:
        raise click.ClickException("DKIM is not configured: set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE")
    click.echo(signer.dns_record())


COMMANDS = [process_bounces, dkim_record]

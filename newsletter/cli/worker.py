"""The long-running worker."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import scheduler


@click.command("worker")
@with_appcontext
def worker() -> None:
    """Run the scheduled jobs and the mail sender until stopped (SIGTERM/SIGINT)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo("worker started; Ctrl+C or SIGTERM stops it after the mails in flight")
    scheduler.run_worker(current_app._get_current_object())


COMMANDS = [worker]

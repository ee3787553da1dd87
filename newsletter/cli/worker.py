"""The long-running worker."""

from __future__ import annotations

import gc
import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import bounce_listener, scheduler


@click.command("worker")
@with_appcontext
def worker() -> None:
    """Run the scheduled jobs and the mail sender until stopped (SIGTERM/SIGINT)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo("worker started; Ctrl+C or SIGTERM stops it after the mails in flight")
    # The app and its modules live as long as the process: the garbage collector need not
    # walk them again at every full collection while mail goes out, nor at exit.
    gc.freeze()
    try:
        scheduler.run_worker(current_app._get_current_object())
    except bounce_listener.ListenError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [worker]

"""Command-line interface (SPEC §5): ``flask --app wsgi <command>``.

Commands parse their arguments, call one service, commit, and print; bad input ends in a
clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json

import click
from flask import Flask

from . import consent, scheduler, subscribers
from .forms import normalise_email


def _email_argument(_ctx, _param, value: str) -> str:
    try:
        return normalise_email(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def init_app(app: Flask) -> None:
    @app.cli.command("worker")
    def worker() -> None:
        """Run the scheduled jobs and the mail sender until stopped (SIGTERM/SIGINT)."""
        click.echo("worker started; Ctrl+C or SIGTERM stops it after the mails in flight")
        scheduler.run_worker(app)

    @app.cli.command("export-subscriber")
    @click.argument("email", callback=_email_argument)
    def export_subscriber(email: str) -> None:
        """Print everything held on EMAIL as JSON, consent events included (SPEC §7)."""
        subscriber = subscribers.find_by_email(email)
        if subscriber is None:
            raise click.ClickException(f"no subscriber with the address {email}")
        click.echo(json.dumps(consent.evidence(subscriber), indent=2, ensure_ascii=False))

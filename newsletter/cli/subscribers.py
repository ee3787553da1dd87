"""Commands about subscribers and their evidence."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from .. import consent, subscribers
from .params import email_argument


@click.command("export-subscriber")
@click.argument("email", callback=email_argument)
@with_appcontext
def export_subscriber(email: str) -> None:
    """Print everything held on EMAIL as JSON, consent events included (SPEC §7)."""
    subscriber = subscribers.find_by_email(email)
    if subscriber is None:
        raise click.ClickException(f"no subscriber with the address {email}")
    click.echo(json.dumps(consent.evidence(subscriber), indent=2, ensure_ascii=False))


COMMANDS = [export_subscriber]

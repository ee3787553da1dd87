"""Commands about admin accounts."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import admins
from ..extensions import db
from .params import email_argument


@click.command("create-admin")
@click.argument("email", callback=email_argument)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help=f"At least {admins.MIN_PASSWORD_LENGTH} characters; asked for (hidden) when left out.",
)
@with_appcontext
def create_admin(email: str, password: str) -> None:
    """Create the admin EMAIL, or set a new password for it (signing out its sessions)."""
    try:
        saved = admins.create_or_reset(email, password)
    except admins.WeakPassword as exc:
        raise click.ClickException(f"password refused: {exc}") from exc
    db.session.commit()
    if saved.created:
        click.echo(f"admin {email} created; sign in at /admin/login")
    else:
        click.echo(f"password of admin {email} reset; its sessions are signed out")


COMMANDS = [create_admin]

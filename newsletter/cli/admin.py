"""Commands about admin accounts."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import admins
from ..extensions import db
from ..models import AdminRole
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
@click.option(
    "--role",
    type=click.Choice([role.value for role in AdminRole]),
    default=None,
    help="admin: everything (the default for a new admin); editor: articles, feeds and digests only.",
)
@with_appcontext
def create_admin(email: str, password: str, role: str | None) -> None:
    """Create the admin EMAIL, or set a new password (and role) for it (signing out its sessions)."""
    try:
        saved = admins.create_or_reset(email, password, AdminRole(role) if role else None)
    except admins.WeakPassword as exc:
        raise click.ClickException(f"password refused: {exc}") from exc
    except admins.LastAdmin as exc:
        raise click.ClickException(f"{email} is the last admin who can sign in; make another one admin first") from exc
    db.session.commit()
    if saved.created:
        click.echo(f"{saved.admin.role.value} {email} created; sign in at /admin/login")
    else:
        click.echo(f"password of admin {email} reset; its sessions are signed out")


COMMANDS = [create_admin]

"""Commands for the publisher's other systems: admin API tokens and webhooks (SPEC §9)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import apitokens
from ..extensions import db
from ..models import ApiScope
from ..webhooks import endpoints, events


@click.command("create-api-token")
@click.argument("name")
@click.option(
    "--scope", type=click.Choice([scope.value for scope in ApiScope]), default=ApiScope.READ.value,
    show_default=True, help="read: GET only; write: every request.",
)
@with_appcontext
def create_api_token(name: str, scope: str) -> None:
    """Create the admin API token NAME and print it; it is shown this once and stored hashed."""
    try:
        token = apitokens.create(name, ApiScope(scope))
    except apitokens.TokenNameTaken:
        raise click.ClickException(f"a token named {name!r} exists already; revoke it first") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'NAME'") from None
    db.session.commit()
    click.echo(f"token {name!r} ({scope}); shown only now, keep it secret:", err=True)
    click.echo(token)


@click.command("revoke-api-token")
@click.argument("name")
@with_appcontext
def revoke_api_token(name: str) -> None:
    """Revoke the admin API token NAME: requests carrying it get 401 from now on."""
    if not apitokens.revoke(name):
        raise click.ClickException(f"no token named {name!r}")
    db.session.commit()
    click.echo(f"token {name!r} revoked")


@click.command("add-webhook")
@click.argument("url")
@click.option(
    "--event", "chosen", multiple=True, required=True, type=click.Choice(events.EVENTS),
    help="An event to send there; give --event once per event.",
)
@with_appcontext
def add_webhook(url: str, chosen: tuple[str, ...]) -> None:
    """Send the chosen events to URL, signed as Standard Webhooks; prints the signing secret."""
    try:
        webhook = endpoints.add(url, chosen)
    except endpoints.WebhookError as exc:
        raise click.BadParameter(str(exc), param_hint="'URL'") from None
    db.session.commit()
    click.echo(f"webhook {webhook.id} added for {', '.join(webhook.events)}; its signing secret:", err=True)
    click.echo(webhook.secret)


COMMANDS = [create_api_token, revoke_api_token, add_webhook]

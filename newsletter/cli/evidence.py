"""Commands about the consent evidence as a whole."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import evidence


@click.command("verify-evidence")
@with_appcontext
def verify_evidence() -> None:
    """Check every subscriber's consent-event hash chain and every consent wording.

    Prints each event changed or removed, by subscriber and event id, and exits 1 if there is
    any; exits 0 with the counts checked when everything is as recorded.
    """
    summary = evidence.Summary()
    for problem in evidence.verify_all(summary):
        click.echo(str(problem))
    checked = f"{summary.subscribers} subscribers, {summary.events} events"
    if summary.problems:
        click.echo(f"evidence NOT intact: {summary.problems} problems in {checked}", err=True)
        raise SystemExit(1)
    click.echo(f"evidence intact: {checked} checked")


COMMANDS = [verify_evidence]

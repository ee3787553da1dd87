"""Commands about the consent evidence as a whole."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .. import evidence, ledger


def _head(_ctx, _param, value: str | None) -> ledger.Head | None:
    if value is None:
        return None
    try:
        return ledger.Head.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("verify-evidence")
@click.option(
    "--head", "head", callback=_head, metavar="N:DIGEST",
    help="Also prove that no event covered by this head (from evidence-head) was changed or removed since.",
)
@with_appcontext
def verify_evidence(head: ledger.Head | None) -> None:
    """Check every subscriber's consent-event hash chain and every consent wording.

    Prints each event changed or removed, by subscriber and event id, and exits 1 if there is
    any; exits 0 with the counts checked when everything is as recorded.
    """
    summary = evidence.Summary()
    for problem in evidence.verify_all(summary):
        click.echo(str(problem))
    check = ledger.HeadCheck()
    if head is not None:
        for problem in ledger.verify_head(head, check):
            click.echo(str(problem))
        if check.note:
            click.echo(check.note, err=True)
    checked = f"{summary.subscribers} subscribers, {summary.events} events"
    if summary.problems or check.problems:
        problems = summary.problems + check.problems
        against = f" and the head {head}" if head is not None else ""
        click.echo(f"evidence NOT intact: {problems} problems in {checked}{against}", err=True)
        raise SystemExit(1)
    click.echo(f"evidence intact: {checked} checked")
    if head is not None:
        click.echo(
            f"matches the head {head}: {check.events} events as they were,"
            f" {check.purged} of them purged since (never-confirmed sign-ups)"
        )


@click.command("evidence-head")
@with_appcontext
def evidence_head() -> None:
    """Print one digest over every consent event (first line) and the time it was taken.

    Keep it outside this database (mail it, print it, have it notarised); later,
    ``verify-evidence --head`` with it proves that no event it covers was changed or removed.
    Refuses (exit 1) when events no longer match what an earlier head recorded.
    """
    taken = ledger.take_head()
    for problem in taken.problems:
        click.echo(str(problem))
    if taken.problems:
        click.echo(
            f"no head taken: {len(taken.problems)} events changed or removed since an earlier head;"
            " check them with verify-evidence --head and the last head you kept",
            err=True,
        )
        raise SystemExit(1)
    click.echo(str(taken.head))
    covered = f"{taken.events} consent events (ids up to {taken.head.last_event_id})"
    click.echo(f"taken at {taken.at.isoformat()} over {covered}")


COMMANDS = [verify_evidence, evidence_head]

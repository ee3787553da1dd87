"""The digest, by hand: ``flask send-digest``."""

from __future__ import annotations

import gc
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from .. import digest
from ..delivery import holds
from ..delivery.pool import SendPool
from ..extensions import db
from ..models import DeliveryStatus, DigestTrigger

_DATABASE_FAILED = (
    "the database failed while sending ({error}); sending stopped. The mails not yet recorded go"
    " out once their lease ends (flask worker, or send-digest again), at most one per connection twice"
)
#: Pause while another sender holds the last deliveries (it sends them, or its lease ends).
_POLL_SECONDS = 0.5
#: How often the progress bar is redrawn at most.
_PROGRESS_SECONDS = 0.2


@click.command("send-digest")
@with_appcontext
def send_digest() -> None:
    """Build the digest of every article not yet in one, deliver it to every confirmed
    subscriber, wait until every delivery was attempted, and print a summary.

    Prints "nothing new" (and sends nothing) when there is no new article.
    """
    gc.freeze()  # what is loaded by now lives as long as the process (see the worker)
    issue = digest.build_digest(DigestTrigger.COMMAND)
    if issue is None:
        db.session.rollback()
        click.echo("nothing new")
        return
    db.session.commit()
    digest_id, queued = issue.id, issue.recipient_count
    click.echo(
        f"digest {digest_id}: {_count(digest.article_count(digest_id), 'article')}"
        f" for {_count(queued, 'subscriber')}"
    )
    try:
        relay_down = _send(digest_id, queued)
        counts = digest.delivery_counts(digest_id)
    except OperationalError as exc:
        raise click.ClickException(_DATABASE_FAILED.format(error=exc.orig or exc)) from None
    click.echo(_summary(queued, counts))
    if counts[DeliveryStatus.HELD]:
        raise click.ClickException(
            f"sending digest {digest_id} was stopped: {holds.stop_reason(digest_id)}."
            " Once the cause is fixed, resume it in the admin area (Digests)."
        )
    if relay_down:
        click.echo(
            "the mail relay did not accept mail; the worker (flask worker) retries the rest",
            err=True,
        )


def _send(digest_id: int, queued: int) -> bool:
    """Send until no delivery of the digest waits; True if the relay was down.

    On PostgreSQL helper processes send beside this one (SEND_PROCESSES)."""
    app = current_app._get_current_object()
    with SendPool(app) as pool, pool.sender() as sender:
        with click.progressbar(length=queued, label="sending") as bar:
            attempted = 0
            shown_at = 0.0

            def show(stored: int) -> None:
                nonlocal attempted, shown_at
                attempted += stored
                if time.monotonic() - shown_at >= _PROGRESS_SECONDS:
                    shown_at = time.monotonic()
                    bar.update(min(queued, attempted + pool.helpers_attempted()) - bar.pos)

            while True:
                sender.drain(on_progress=show)
                if sender.relay_down.is_set():
                    return True  # the relay is down: leave the rest to the worker's retries
                if sender.store_failed.is_set():
                    raise click.ClickException(_DATABASE_FAILED.format(error="outcomes could not be stored"))
                if pool.relay_down():
                    pool.wait(_POLL_SECONDS)
                    return True
                if pool.helpers_running():
                    pool.wait(_POLL_SECONDS)  # they are sending the last ones
                elif _waiting(digest.delivery_counts(digest_id)) == 0:
                    bar.update(queued - bar.pos)
                    return False
                else:
                    time.sleep(_POLL_SECONDS)  # another sender holds the last ones, or its lease runs out


def _waiting(counts: dict[DeliveryStatus, int]) -> int:
    """Deliveries that still wait for a sender (this one or another)."""
    return counts[DeliveryStatus.QUEUED] + counts[DeliveryStatus.SENDING]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _summary(queued: int, counts: dict[DeliveryStatus, int]) -> str:
    parts = [
        f"queued {queued}",
        f"sent {counts[DeliveryStatus.SENT]}",
        f"failed {counts[DeliveryStatus.FAILED]}",
    ]
    for status in (DeliveryStatus.RETRYING, DeliveryStatus.CANCELLED, DeliveryStatus.HELD):
        if counts[status]:
            parts.append(f"{status.value} {counts[status]}")
    waiting = _waiting(counts)
    if waiting:
        parts.append(f"waiting {waiting}")
    return ", ".join(parts)


COMMANDS = [send_digest]

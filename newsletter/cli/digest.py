"""The digest, by hand: ``flask send-digest``."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from .. import digest, outbox
from ..extensions import db
from ..models import DeliveryStatus, DigestTrigger

#: Deliveries of the digest that still wait for a sender (this one or another).
_WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
#: Pause while another sender holds the last deliveries (it sends them, or its lease ends).
_POLL_SECONDS = 0.5


@click.command("send-digest")
@with_appcontext
def send_digest() -> None:
    """Build the digest of every article not yet in one, deliver it to every confirmed
    subscriber, wait until every delivery was attempted, and print a summary.

    Prints "nothing new" (and sends nothing) when there is no new article.
    """
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
    relay_down = _send(digest_id, queued)
    counts = digest.delivery_counts(digest_id)
    click.echo(_summary(queued, counts))
    if relay_down:
        click.echo(
            "the mail relay did not accept mail; the worker (flask worker) retries the rest",
            err=True,
        )


def _send(digest_id: int, queued: int) -> bool:
    """Run the sender until no delivery of the digest waits; True if the relay was down."""
    with click.progressbar(length=queued, label="sending") as bar:
        done = 0
        while True:
            counts = digest.delivery_counts(digest_id)
            waiting = sum(counts[status] for status in _WAITING)
            bar.update(queued - waiting - done)
            done = queued - waiting
            if waiting == 0:
                return False
            report = outbox.send_pending()
            if report.retrying and digest.unreached_count(digest_id):
                return True  # the relay is down: leave the rest to the worker's retries
            if report.attempted == 0:
                time.sleep(_POLL_SECONDS)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _summary(queued: int, counts: dict[DeliveryStatus, int]) -> str:
    parts = [
        f"queued {queued}",
        f"sent {counts[DeliveryStatus.SENT]}",
        f"failed {counts[DeliveryStatus.FAILED]}",
    ]
    for status in (DeliveryStatus.RETRYING, DeliveryStatus.CANCELLED):
        if counts[status]:
            parts.append(f"{status.value} {counts[status]}")
    waiting = counts[DeliveryStatus.QUEUED] + counts[DeliveryStatus.SENDING]
    if waiting:
        parts.append(f"waiting {waiting}")
    return ", ".join(parts)


COMMANDS = [send_digest]

"""The digest, by hand: ``flask send-digest``."""

from __future__ import annotations

import gc
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from .. import clock, digest
from ..delivery import holds, replies
from ..delivery.pool import SendPool
from ..extensions import db
from ..models import DeliveryStatus, DigestTrigger

_DATABASE_FAILED = (
    "the database failed while sending ({error}); sending stopped. The mails not yet recorded go"
    " out once their lease ends (flask worker, or send-digest again), at most one per connection twice"
)
#: Pause while another sender holds the last deliveries (it sends them, or its lease ends).
_POLL_SECONDS = 0.5
#: How many groups of one status (by the relay's last reply) the summary explains.
_UNSENT_GROUPS = 5
#: How often the progress bar is redrawn at most.
_PROGRESS_SECONDS = 0.2


@click.command("send-digest")
@click.option("--subject", help="The subject line, in every language; default: the site and the lead article.")
@with_appcontext
def send_digest(subject: str | None) -> None:
    """Build the digest of every article not yet in one, deliver it to every confirmed
    subscriber, wait until every delivery was attempted, and print a summary with the
    reasons for the mails not sent.

    On SQLite, while another sender (the worker) is sending, it waits for that one, which
    sends the digest as well. Prints "nothing new" (and sends nothing) when there is no new
    article.
    """
    try:
        subject = digest.clean_subject(subject)
    except digest.DigestInputError as exc:
        raise click.BadParameter(str(exc), param_hint="'--subject'") from None
    gc.freeze()  # what is loaded by now lives as long as the process (see the worker)
    issue = digest.build_digest(DigestTrigger.COMMAND, subject=subject)
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
    for line in _unsent(digest_id, counts):
        click.echo(line)
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
            announced = False

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
                    continue
                waiting = _waiting(digest.delivery_counts(digest_id))
                db.session.commit()  # on SQLite an open transaction would hold the write lock while this one sleeps
                if waiting == 0:
                    bar.update(queued - bar.pos)
                    return False
                if sender.waiting_for is not None:  # SQLite: another sender has the turn, and sends these too
                    if not announced:
                        click.echo(f"\nanother sender is sending ({sender.waiting_for}); waiting for it")
                        announced = True
                    bar.update(max(0, queued - waiting - bar.pos))
                time.sleep(_POLL_SECONDS)  # another sender holds the last ones, or its lease runs out


def _unsent(digest_id: int, counts: dict[DeliveryStatus, int]) -> list[str]:
    """Why the digest's mails not sent are not: per status, the largest groups by the relay's
    last reply, with the next attempt of those to be retried."""
    lines = []
    for status in (DeliveryStatus.RETRYING, DeliveryStatus.FAILED):
        if not counts[status]:
            continue
        groups = digest.unsent_groups(digest_id, status, _UNSENT_GROUPS)
        for group in groups:
            reply = replies.printable(group.reply) if group.reply else "no reply recorded"
            if status is DeliveryStatus.RETRYING:
                lines.append(f"{group.count} will be retried after {_local_time(group.next_attempt_at)}: {reply}")
            else:
                lines.append(f"{group.count} failed: {reply}")
        rest = counts[status] - sum(group.count for group in groups)
        if rest:
            lines.append(f"{rest} more {status.value} with other replies")
    return lines


def _local_time(moment: datetime) -> str:
    """``moment`` in TIMEZONE: the time of day, with the date unless it is today."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    local = moment.astimezone(zone)
    today = clock.now().astimezone(zone).date()
    return local.strftime("%H:%M %Z" if local.date() == today else "%Y-%m-%d %H:%M %Z")


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

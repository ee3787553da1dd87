"""The sender: claims due mails, composes them, and hands them to the relay in parallel.

A sender is one thread running an event loop: a producer composes the claimed mails (a
digest is rendered once per language, not once per reader) into a small bounded queue, so
memory stays flat however many recipients there are; MAIL_CONCURRENCY connection tasks each
own one SMTP connection, reused for every message, and pace themselves through a shared
token bucket (MAIL_RATE_LIMIT); outcomes are stored in batches, as many per statement as
have come together. A connection hands its next message over (the final dot of DATA) only
once the previous one's outcome is stored, so a sender killed at any moment repeats at most
one mail per connection and loses none (its claimed rows return to the queue when the lease
ends); the store overlaps the next message's transmission. The same store counts the next
message's hand-over (``delivery.handovers``), so a mail that reached the relay twice shows it.
While it lives, a sender renews the leases of the mails it holds every third of the lease,
and never sends a mail it holds a second time. On SQLite it claims only while it holds the
turn (:mod:`.turns`). One thread and no hand-overs between threads: at thousands of mails a
second, waking threads cost more than the work. :mod:`.pool` runs several senders in
processes of their own.

:func:`request_stop` (the worker's SIGTERM handler) lets the mails in flight finish, gives
the rest of the claimed batch back to the queue, and stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app

from .. import clock
from ..extensions import db
from ..models import MailKind
from . import compose, holds, outcomes, queue, transports, turns
from .kinds import SPECS
from .outgoing import Outgoing
from .pacing import TokenBucket
from .transports.base import ConnectionFailure, DeliveryError, PermanentFailure

logger = logging.getLogger(__name__)

_stopping = threading.Event()
#: Mails composed in one go. A claim is read in one query (each read holds up the event loop,
#: and with it every connection, for a round trip to the database), then composed this many
#: at a time, so that the connections and the outcome stores get their turns in between
#: (bench/README.md, session 6: reading a claim in chunks of 100 cost about 6 % of the rate).
COMPOSE_SLICE = 25
#: Outcome stores that may be in flight at once (PostgreSQL, each on a connection of its own).
#: A mail's final dot waits for the store counting its hand-over; with one store at a time,
#: that store waited behind the one running, and the stores became the senders' bottleneck.
STORES_IN_FLIGHT = 2
#: How often (real seconds) the sender looks at the app's clock to see whether its leases are
#: due for renewal (every third of SEND_LEASE_SECONDS).
LEASE_CHECK_SECONDS = 0.25
#: Kinds whose text part is kept after sending, as evidence (the confirmation request).
_KEEP_TEXT = frozenset({MailKind.CONFIRM})


def request_stop() -> None:
    """Ask every sender in this process to finish the mails in flight and stop."""
    _stopping.set()


def stop_requested() -> bool:
    return _stopping.is_set()


@dataclass(frozen=True)
class _Item:
    """A claimed delivery, composed and ready for the wire."""

    delivery_id: int
    attempts: int
    subscriber_id: int | None
    digest_id: int | None
    mail: compose.RawMail
    sent_text: str | None
    #: The number of the sender's claim it came with.
    claim: int


_DONE = object()


class Sender:
    """Sends due mail over a pool of connections; use as a context manager."""

    def __init__(self, app: Flask, *, connections: int | None = None, rate: float | None = None) -> None:
        """``connections`` and ``rate`` default to MAIL_CONCURRENCY and MAIL_RATE_LIMIT."""
        self.app = app
        smtp = app.config["MAIL_BACKEND"] == "smtp"
        self.concurrency = max(1, connections or app.config["MAIL_CONCURRENCY"]) if smtp else 1
        rate = rate or app.config.get("MAIL_RATE_LIMIT")
        self.bucket = TokenBucket(rate) if rate else None
        self.relay_down = threading.Event()
        #: Set when outcomes could not be stored (the database failed): nothing more is handed
        #: over, as each mail handed over now would go out again once its lease ends.
        self.store_failed = threading.Event()
        self._report = outcomes.SendReport()
        self._on_progress: Callable[[int], object] | None = None
        #: The digests this sender stopped, with why (see :mod:`.holds`).
        self.digests = holds.Watch()
        #: Each mail's VERP envelope sender and DKIM signature.
        self._outgoing = Outgoing(app)
        #: Claims made so far; per digest stopped, how many had been made by then.
        self._claim_number = 0
        self._stopped_after: dict[int, int] = {}
        #: Claimed mails whose outcome is not stored yet: their leases are renewed, and a claim
        #: that returns one of them again does not send it twice.
        self._held: set[int] = set()
        self._turn = turns.SendingTurn()
        #: Who holds the turn this sender could not take (SQLite), until it takes it.
        self.waiting_for: str | None = None

    def __enter__(self) -> Sender:
        self._recorder = outcomes.Recorder().__enter__()
        self._loop = asyncio.new_event_loop()
        self._connections = [transports.open_connection(self.app) for _ in range(self.concurrency)]
        return self

    def __exit__(self, *_exc) -> None:
        try:
            self._run(self._close_connections())
        finally:
            self._loop.close()
            self._recorder.__exit__(None, None, None)
            self._turn.release()

    def _run(self, coroutine) -> None:
        """Run ``coroutine`` on the sender's loop, on this thread; on a thread of its own
        where this one runs an event loop already (Playwright's sync API, a notebook), which
        then waits for it like for any other blocking call."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._loop.run_until_complete(coroutine)
            return
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sender-loop") as pool:
            pool.submit(contextvars.copy_context().run, self._loop.run_until_complete, coroutine).result()

    async def _close_connections(self) -> None:
        await asyncio.gather(self._recorder.aclose(), *(connection.close() for connection in self._connections))
        await asyncio.sleep(0)  # the closed transports' last callbacks run before the loop closes

    def drain(
        self, max_rounds: int | None = None, on_progress: Callable[[int], object] | None = None
    ) -> outcomes.SendReport:
        """Claim and send batch after batch until nothing is due, the relay is down, or a stop
        was requested; ``on_progress`` hears how many outcomes each store added.

        The next batch is claimed and composed while the last mails of the one before are
        still on the wire: the connections never wait for a batch boundary."""
        return self._sending(self._claims(queue.CLAIM_BATCH, max_rounds), on_progress)

    def send_batch(self, limit: int = queue.CLAIM_BATCH) -> outcomes.SendReport:
        """Claim up to ``limit`` due mails, send them, and return what happened to them."""
        return self._sending(self._claims(limit, 1), None)

    def _claims(self, limit: int, rounds: int | None) -> Iterator[list[int]]:
        """Claimed batches, until nothing is due, ``rounds`` were taken, the sender halts, or
        (SQLite) another sender has the turn.

        A claimed mail this sender holds already (its lease ran out after all) stays where it
        is: it is not sent a second time."""
        taken = 0
        while (rounds is None or taken < rounds) and not self.halted():
            if not self._turn.take():
                self.waiting_for = self._turn.holder()
                logger.debug("another sender is sending (%s); this one waits its turn", self.waiting_for)
                return
            self.waiting_for = None
            ids = queue.claim(limit)
            taken += 1
            if not ids:
                return
            fresh = [delivery_id for delivery_id in ids if delivery_id not in self._held]
            self._held.update(fresh)
            if fresh:
                yield fresh

    def _sending(self, claims: Iterator[list[int]], on_progress) -> outcomes.SendReport:
        before = outcomes.SendReport(**vars(self._report))
        self._on_progress = on_progress
        try:
            self._run(self._send(claims))
        finally:
            self._on_progress = None
        return outcomes.SendReport(**{key: value - getattr(before, key) for key, value in vars(self._report).items()})

    async def _send(self, claims: Iterator[list[int]]) -> None:
        items: asyncio.Queue = asyncio.Queue(maxsize=self.concurrency * 2)
        pending = _PendingOutcomes(self._finish_async, self._recorder.stores_alone)
        workers = [
            asyncio.create_task(self._connection_loop(connection, items, pending))
            for connection in self._connections
        ]
        leases = asyncio.create_task(self._keep_leases(pending))
        try:
            for ids in claims:
                await self._produce(ids, items)
        finally:
            for _ in workers:
                await items.put(_DONE)
            await asyncio.gather(*workers)
            leases.cancel()
            await asyncio.gather(leases, return_exceptions=True)
            await pending.close()

    async def _keep_leases(self, pending: _PendingOutcomes) -> None:
        """Renew the leases of the mails this sender holds every third of SEND_LEASE_SECONDS
        by the app's clock, with the next store: a lease runs out only when its sender died,
        however slowly the relay answers."""
        period = timedelta(seconds=self.app.config["SEND_LEASE_SECONDS"] / 3)
        due = clock.now() + period
        while True:
            await asyncio.sleep(LEASE_CHECK_SECONDS)
            if clock.now() >= due:
                due = clock.now() + period
                pending.renew()

    async def _produce(self, ids: list[int], items: asyncio.Queue) -> None:
        self._claim_number += 1
        claimed = queue.load_claimed(ids)
        db.session.commit()  # no read stays open while mail goes out: on SQLite it would block the stores
        for start in range(0, len(claimed), COMPOSE_SLICE):
            if self.halted():
                self._finish([outcomes.released(mail.id, "not sent: sender stopping") for mail in claimed[start:]])
                return
            for item in self._compose(claimed[start : start + COMPOSE_SLICE]):
                await items.put(item)

    def _compose(self, deliveries: list[queue.ClaimedMail]) -> list[_Item]:
        """Render these mails; record the ones that cannot go.

        Whatever composing read ends before any mail is handed on: on SQLite an open read
        would keep the outcomes from being stored."""
        now = clock.now()
        items, unsendable = [], []
        for delivery in deliveries:
            spec = SPECS[delivery.kind]
            try:
                if not spec.eligible(delivery):
                    unsendable.append(outcomes.cancelled(delivery.id))
                    continue
                content = spec.content(delivery)
                raw = compose.build_message(content, spec.recipient(delivery), date=now)
                raw = self._outgoing.finish(raw, delivery.id, now)
            except Exception as exc:  # a broken template must not lose the mail: retry later
                logger.exception("could not compose delivery %r", delivery.id)
                reply = f"could not compose: {exc}"
                unsendable.append(outcomes.retry_or_fail(delivery.id, delivery.attempts + 1, reply))
                continue
            sent_text = content.text if delivery.kind in _KEEP_TEXT else None
            items.append(
                _Item(
                    delivery.id, delivery.attempts, delivery.subscriber_id, delivery.digest_id, raw, sent_text,
                    self._claim_number,
                )
            )
        db.session.commit()
        self._finish(unsendable)
        return items

    async def _connection_loop(
        self, connection: transports.Connection, items: asyncio.Queue, pending: _PendingOutcomes
    ) -> None:
        """Send the queue's mails over one connection, each handed over only once the one
        before it is recorded and its own hand-over counted (as a rule in the same store;
        stores may overlap, so it waits for both): never more than one unrecorded mail per
        connection, and no hand-over the data does not show."""
        previous: asyncio.Future | None = None  # the store of this connection's last outcome
        while (item := await items.get()) is not _DONE:
            handover = _HandOver(pending.count_handover(item.delivery_id), previous)
            try:
                outcome = await self._deliver(connection, item, handover)
            except Exception:  # a bug, not the relay: the mail may have gone; its lease decides
                logger.exception("sending delivery %r failed", item.delivery_id)
                outcome = outcomes.released(item.delivery_id, "not sent: sender error")
            # (This awaits the count's store where the final dot did not: a mail's outcome and
            # its count never share a store.)
            if (not handover.dot_sent or handover.refused) and await handover.counted:
                outcome = outcomes.taken_back(outcome)
            if item.digest_id is not None and outcome.attempts is not None:  # it reached the relay
                self._judge_digest(item.digest_id, outcome)
            previous = pending.add(outcome)

    async def _deliver(self, connection: transports.Connection, item: _Item, handover: _HandOver) -> outcomes.Outcome:
        if self.halted():
            return outcomes.released(item.delivery_id, "not sent: the sender stopped (relay, database or stop)")
        stopped_after = self._stopped_after.get(item.digest_id)
        if stopped_after is not None:
            if item.claim <= stopped_after:
                return outcomes.held(item.delivery_id, self.digests.stopped[item.digest_id])
            # Claimed after the stop, when its waiting mails were all held: an admin resumed it.
            del self._stopped_after[item.digest_id]
            self.digests.forget(item.digest_id)
        if self.bucket is not None:
            await self.bucket.acquire_async()
        attempts = item.attempts + 1

        async def previous_stored() -> None:
            # Any failed store stops every connection: a later one may succeed again (on a new
            # database connection), but the mails of the failed one are unrecorded already.
            if not await handover.counted or not await handover.previous_outcome_stored() or self.store_failed.is_set():
                raise _PreviousNotStored
            handover.dot_sent = True

        try:
            await connection.send(item.mail, previous_stored)
        except _PreviousNotStored:  # the connection dropped the message before its final dot
            self.store_failed.set()
            return outcomes.released(item.delivery_id, "not sent: outcomes could not be stored")
        except DeliveryError as refusal:
            handover.refused = not isinstance(refusal, ConnectionFailure)  # the relay answered no
            if isinstance(refusal, PermanentFailure):
                logger.info("delivery %r failed permanently: %s", item.delivery_id, refusal.reply)
            elif isinstance(refusal, ConnectionFailure):
                self.relay_down.set()
                logger.warning(
                    "the mail relay cannot take mail now (down, or it refused TLS, login or sender);"
                    " the rest waits: %s",
                    refusal.reply,
                )
            return outcomes.after_refusal(item.delivery_id, attempts, item.subscriber_id, refusal)
        return outcomes.sent(item.delivery_id, attempts, item.mail.message_id, item.sent_text)

    def _judge_digest(self, digest_id: int, outcome: outcomes.Outcome) -> None:
        """Count a digest's mail; if most of its latest mails failed the same way, stop the
        digest: hold its waiting mails, and the ones this sender has claimed as they come."""
        reason = self.digests.note(digest_id, outcome.status, outcome.reply)
        if reason is None:
            return
        self._stopped_after[digest_id] = self._claim_number
        logger.warning("digest %r stopped; its mails not yet handed over are held: %s", digest_id, reason)
        try:
            self._recorder.hold(digest_id, reason)
        except Exception as exc:  # the mails this sender claimed are held all the same
            logger.error("could not hold the waiting mails of digest %r: %s", digest_id, exc)

    def _finish(self, batch: list[outcomes.Outcome]) -> None:
        """Store ``batch`` (one short transaction) and count them."""
        if not batch:
            return
        try:
            self._recorder.record(batch)
        except Exception as exc:  # the rows stay "sending"; their lease brings them back
            self._store_failed(exc)
            return
        self._count(batch)

    async def _finish_async(self, batch: list[outcomes.Outcome], handovers: list[int], renew: bool) -> bool:
        """Store ``batch`` while the connections go on, with the ``handovers`` about to happen
        and, if ``renew``, the renewal of every lease this sender holds; count them; False if
        that failed."""
        try:
            await self._recorder.record_async(batch, handovers, list(self._held) if renew else ())
        except Exception as exc:  # the rows stay "sending"; their lease brings them back
            self._store_failed(exc)
            return False
        self._count(batch)
        return True

    def _store_failed(self, exc: Exception) -> None:
        summary = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        logger.error("recording delivery outcomes failed; no more mail is handed over: %s", summary)
        logger.debug("recording delivery outcomes failed", exc_info=exc)
        self.store_failed.set()

    def halted(self) -> bool:
        """Whether this sender hands nothing more over: the relay is down, outcomes cannot be
        stored, or a stop was requested."""
        return self.relay_down.is_set() or self.store_failed.is_set() or stop_requested()

    def _count(self, batch: list[outcomes.Outcome]) -> None:
        for outcome in batch:
            self._report.count(outcome.status)
            self._held.discard(outcome.delivery_id)
        if self._on_progress is not None and batch:
            self._on_progress(len(batch))


class _PreviousNotStored(Exception):
    """The previous mail's outcome could not be stored, so the next one must not be handed over."""


class _HandOver:
    """One mail on its way over a connection: the future of the store that counts its
    hand-over (True once stored), that of the store of the connection's previous outcome,
    whether its final dot went out, and whether the relay then answered with a refusal."""

    __slots__ = ("counted", "previous", "dot_sent", "refused")

    def __init__(self, counted: asyncio.Future, previous: asyncio.Future | None) -> None:
        self.counted = counted
        self.previous = previous
        self.dot_sent = False
        self.refused = False

    async def previous_outcome_stored(self) -> bool:
        return self.previous is None or await self.previous


class _PendingOutcomes:
    """What the sender has to write: outcomes, the hand-overs about to happen, the renewal
    of its leases. Whatever has come together is stored in one go, while the connections go on
    transmitting, with up to STORES_IN_FLIGHT stores at once (a store that must run alone,
    such as a renewal, waits for the others and holds back the next); each call returns the
    future of the store it goes into, done once that store is over, with True if it
    succeeded."""

    def __init__(self, store, stores_alone) -> None:
        self._store = store
        self._stores_alone = stores_alone
        self._outcomes: list[outcomes.Outcome] = []
        self._handovers: list[int] = []
        self._renew = False
        self._stored: asyncio.Future | None = None
        self._arrived = asyncio.Event()
        self._closing = False
        self._in_flight: set[asyncio.Task] = set()
        self._task = asyncio.create_task(self._run())

    def add(self, outcome: outcomes.Outcome) -> asyncio.Future:
        self._outcomes.append(outcome)
        return self._next_store()

    def count_handover(self, delivery_id: int) -> asyncio.Future:
        """Count the hand-over of ``delivery_id``; await the result before its final dot."""
        self._handovers.append(delivery_id)
        return self._next_store()

    def renew(self) -> None:
        """Renew the sender's leases with the next store."""
        self._renew = True
        self._next_store()

    def _next_store(self) -> asyncio.Future:
        if self._stored is None:
            self._stored = asyncio.get_running_loop().create_future()
        self._arrived.set()
        return self._stored

    async def close(self) -> None:
        """Store what is still waiting, then end."""
        self._closing = True
        self._arrived.set()
        await self._task

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            while len(running := {task for task in self._in_flight if not task.done()}) >= STORES_IN_FLIGHT:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)  # what arrives joins this store
            self._arrived.clear()
            stored, self._stored = self._stored, None
            if stored is not None:
                batch, handovers, renew = self._outcomes, self._handovers, self._renew
                self._outcomes, self._handovers, self._renew = [], [], False
                alone = self._stores_alone(batch, renew)
                if alone and self._in_flight:
                    await asyncio.wait(self._in_flight)
                task = asyncio.create_task(self._one_store(stored, batch, handovers, renew))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
                if alone:
                    await task
            if self._closing and self._stored is None:
                if self._in_flight:
                    await asyncio.wait(self._in_flight)
                if self._stored is None:
                    return

    async def _one_store(self, stored: asyncio.Future, batch, handovers, renew) -> None:
        succeeded = False
        try:
            succeeded = await self._store(batch, handovers, renew)
        finally:
            stored.set_result(succeeded)


def drain(max_rounds: int | None = None) -> outcomes.SendReport:
    """Send until nothing is due now, the relay is down, or a stop was requested."""
    with Sender(current_app._get_current_object()) as sender:
        return sender.drain(max_rounds)


def send_pending(limit: int = queue.CLAIM_BATCH) -> outcomes.SendReport:
    """Claim one batch of due mails and send it."""
    with Sender(current_app._get_current_object()) as sender:
        return sender.send_batch(limit)

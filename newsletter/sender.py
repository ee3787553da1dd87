"""The sender: claims due mails, composes them, and hands them to the relay in parallel.

One thread composes (rendering is CPU work, and a digest is rendered once per language, not
once per reader); MAIL_CONCURRENCY threads each own one SMTP connection, reused for every
message, and pace themselves through a shared token bucket (MAIL_RATE_LIMIT); one thread
stores the outcomes, several per statement when they come together. A connection hands its
next message over (the final dot of DATA) only once the previous one's outcome is stored,
so a sender killed at any moment repeats at most one mail per connection and loses none (its
claimed rows return to the queue when the lease ends); the store's round trip overlaps the
next message's transmission. A bounded queue between composing and sending keeps memory
flat however many recipients there are. :mod:`newsletter.sendpool` runs several senders in
processes of their own.

:func:`request_stop` (the worker's SIGTERM handler) lets the mails in flight finish, gives
the rest of the claimed batch back to the queue, and stops.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from flask import Flask

from . import clock, mail, outbox, transport
from .extensions import db
from .mailkinds import SPECS
from .models import MailKind
from .pacing import TokenBucket

logger = logging.getLogger(__name__)

_stopping = threading.Event()
#: Deliveries composed per read transaction.
COMPOSE_CHUNK = 100
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
    mail: mail.RawMail
    sent_text: str | None


_DONE = object()


class Sender:
    """Sends due mail with a pool of connections; use as a context manager."""

    def __init__(self, app: Flask, *, connections: int | None = None, rate: float | None = None) -> None:
        """``connections`` and ``rate`` default to MAIL_CONCURRENCY and MAIL_RATE_LIMIT."""
        self.app = app
        smtp = app.config["MAIL_BACKEND"] == "smtp"
        self.concurrency = max(1, connections or app.config["MAIL_CONCURRENCY"]) if smtp else 1
        rate = rate or app.config.get("MAIL_RATE_LIMIT")
        self.bucket = TokenBucket(rate) if rate else None
        self.relay_down = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=self.concurrency * 8)
        self._threads: list[threading.Thread] = []
        self._report = outbox.SendReport()
        self._report_lock = threading.Lock()
        #: (outcome, recorded) pairs from the connection threads to the recording thread
        self._outcomes: queue.Queue = queue.Queue()

    def __enter__(self) -> Sender:
        self._recorder = outbox.recorder()
        self._connection = self._recorder.__enter__()
        self._recording = threading.Thread(target=self._record_loop, name="sender-records", daemon=True)
        self._recording.start()
        for number in range(self.concurrency):
            thread = threading.Thread(target=self._connection_loop, name=f"sender-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_exc) -> None:
        for _ in self._threads:
            self._queue.put(_DONE)
        for thread in self._threads:
            thread.join()
        self._outcomes.put(_DONE)
        self._recording.join()
        self._recorder.__exit__(None, None, None)

    def drain(self, max_rounds: int | None = None) -> outbox.SendReport:
        """Send batches until nothing is due, the relay is down, or a stop was requested."""
        total = outbox.SendReport()
        rounds = 0
        while max_rounds is None or rounds < max_rounds:
            report = self.send_batch()
            total.add(report)
            rounds += 1
            if report.attempted == 0 or self.relay_down.is_set() or stop_requested():
                break
        return total

    def send_batch(self, limit: int = outbox.CLAIM_BATCH) -> outbox.SendReport:
        """Claim up to ``limit`` due mails, send them, and return what happened to them."""
        before = self._snapshot()
        if self.relay_down.is_set() or stop_requested():
            return outbox.SendReport()
        ids = outbox.claim(limit)
        for start in range(0, len(ids), COMPOSE_CHUNK):
            chunk = ids[start : start + COMPOSE_CHUNK]
            if self.relay_down.is_set() or stop_requested():
                self._finish(
                    [outbox.released(delivery_id, "not sent: sender stopping") for delivery_id in chunk],
                    self._connection,
                )
                continue
            for item in self._compose(chunk):
                self._queue.put(item)
        self._queue.join()
        return self._since(before)

    def _compose(self, ids: list[int]) -> list[_Item]:
        """Render the chunk's mails in one read transaction; record the ones that cannot go."""
        deliveries = outbox.load_claimed(ids)
        now = clock.now()
        items, outcomes = [], []
        for delivery in deliveries:
            spec = SPECS[delivery.kind]
            try:
                if not spec.eligible(delivery):
                    outcomes.append(outbox.cancelled(delivery.id))
                    continue
                content = spec.content(delivery)
                raw = mail.build_message(content, spec.recipient(delivery), date=now)
            except Exception as exc:  # a broken template must not lose the mail: retry later
                logger.exception("could not compose delivery %r", delivery.id)
                outcomes.append(outbox.retry_or_fail(delivery.id, delivery.attempts + 1, f"could not compose: {exc}"))
                continue
            sent_text = content.text if delivery.kind in _KEEP_TEXT else None
            items.append(_Item(delivery.id, delivery.attempts, delivery.subscriber_id, raw, sent_text))
        db.session.commit()  # end the read transaction before talking to the relay
        self._finish(outcomes, self._connection)
        return items

    def _connection_loop(self) -> None:
        """Send the queue's mails over one connection, each handed over only once the one
        before it is recorded: never more than one unrecorded mail per connection, while the
        record's round trip overlaps the next message's transmission."""
        previous: threading.Event | None = None
        with self.app.app_context(), transport.connect(self.app) as connection:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    self._queue.task_done()
                    return
                try:
                    outcome = self._deliver(connection, item, previous.wait if previous else None)
                except Exception:  # a bug, not the relay: the mail may have gone; its lease decides
                    logger.exception("sending delivery %r failed", item.delivery_id)
                    outcome = outbox.released(item.delivery_id, "not sent: sender error")
                previous = threading.Event()
                self._outcomes.put((outcome, previous))

    def _record_loop(self) -> None:
        """Record the connections' outcomes, several per transaction when they come together."""
        with self.app.app_context(), outbox.recorder() as database:
            while True:
                first = self._outcomes.get()
                if first is _DONE:
                    return
                batch = [first]
                while len(batch) < 64:
                    try:
                        pending = self._outcomes.get_nowait()
                    except queue.Empty:
                        break
                    if pending is _DONE:
                        self._outcomes.put(_DONE)
                        break
                    batch.append(pending)
                try:
                    self._finish([outcome for outcome, _ in batch], database)
                except Exception:  # the rows stay "sending"; their lease brings them back
                    logger.exception("recording delivery outcomes failed")
                    database.rollback()
                finally:
                    for _, recorded in batch:
                        recorded.set()
                        self._queue.task_done()  # a batch is done once its outcomes are stored

    def _deliver(self, connection, item: _Item, before_handover) -> outbox.Outcome:
        if self.relay_down.is_set() or stop_requested():
            return outbox.released(item.delivery_id, "not sent: relay unreachable or sender stopping")
        if self.bucket is not None:
            self.bucket.acquire()
        attempts = item.attempts + 1
        try:
            connection.send(item.mail, before_handover)
        except transport.ConnectionFailure as exc:
            self.relay_down.set()
            logger.warning("mail relay unreachable; the rest waits: %s", exc.reply)
            return outbox.released(item.delivery_id, exc.reply)
        except transport.TemporaryFailure as exc:
            return outbox.retry_or_fail(item.delivery_id, attempts, exc.reply)
        except transport.PermanentFailure as exc:
            logger.info("delivery %r failed permanently: %s", item.delivery_id, exc.reply)
            return outbox.bounced(item.delivery_id, attempts, exc.reply, item.subscriber_id)
        return outbox.sent(item.delivery_id, attempts, item.mail.message_id, item.sent_text)

    def _finish(self, outcomes: list[outbox.Outcome], connection) -> None:
        outbox.record(outcomes, connection)
        with self._report_lock:
            for outcome in outcomes:
                self._report.count(outcome.status)

    def _snapshot(self) -> outbox.SendReport:
        with self._report_lock:
            return outbox.SendReport(**vars(self._report))

    def _since(self, before: outbox.SendReport) -> outbox.SendReport:
        now = self._snapshot()
        return outbox.SendReport(**{key: getattr(now, key) - getattr(before, key) for key in vars(now)})

"""Several sender processes for one run of sending, on PostgreSQL.

One Python process composes and hands over mail on one core at a time (the GIL). A large
digest therefore goes out faster from several processes, which share the queue safely
through the claim (``SELECT … FOR UPDATE SKIP LOCKED``). SEND_PROCESSES sets how many take
part (0: one per CPU); MAIL_CONCURRENCY and MAIL_RATE_LIMIT stay totals and are divided
between them. SQLite allows one writer at a time, so there a run stays in one process.

Helpers are forked before the calling process starts any thread of its own and drain the
queue until nothing is due; the caller runs its own :class:`Sender` beside them and reads
their progress from a shared counter.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field

from flask import Flask

from ..extensions import db
from .sender import Sender


def process_count(app: Flask) -> int:
    """How many processes a run of sending uses (1 unless the database is PostgreSQL)."""
    if db.engine.dialect.name != "postgresql":
        return 1
    configured = app.config["SEND_PROCESSES"]
    return configured if configured > 0 else max(1, os.cpu_count() or 1)


@dataclass
class SendPool:
    """The helper processes of a run, and what they have attempted so far."""

    app: Flask
    #: None: :func:`process_count`
    processes: int | None = None
    _helpers: list = field(default_factory=list)
    _attempted = None
    _relay_down = None

    def __post_init__(self) -> None:
        if self.processes is None:
            self.processes = process_count(self.app)

    def __enter__(self) -> SendPool:
        if self.processes > 1:
            context = multiprocessing.get_context("fork")
            self._attempted = context.Value("q", 0)
            self._relay_down = context.Value("b", 0)
            db.session.remove()  # nothing of this process's database state crosses the fork
            for number in range(1, self.processes):
                helper = context.Process(target=_helper, args=(self, number), name=f"sender-{number}", daemon=True)
                helper.start()
                self._helpers.append(helper)
        return self

    def __exit__(self, *_exc) -> None:
        for helper in self._helpers:
            helper.join()

    def sender(self, number: int = 0) -> Sender:
        """A sender for process ``number`` with its share of the connections and the rate."""
        config = self.app.config
        connections = _share(max(1, config["MAIL_CONCURRENCY"]), self.processes, number)
        rate = config.get("MAIL_RATE_LIMIT")
        return Sender(self.app, connections=connections, rate=rate / self.processes if rate else None)

    def helpers_attempted(self) -> int:
        """Mails the helper processes have attempted so far."""
        return self._attempted.value if self._attempted is not None else 0

    def relay_down(self) -> bool:
        """Whether a helper found the relay unreachable."""
        return bool(self._relay_down.value) if self._relay_down is not None else False

    def _count_attempted(self, attempted: int) -> None:
        with self._attempted.get_lock():
            self._attempted.value += attempted

    def helpers_running(self) -> bool:
        return any(helper.is_alive() for helper in self._helpers)

    def wait(self, timeout: float) -> None:
        """Wait until the helpers are done, or ``timeout`` seconds."""
        for helper in self._helpers:
            helper.join(timeout)


def _share(total: int, parts: int, number: int) -> int:
    """Part ``number`` of ``total`` split as evenly as possible, at least 1."""
    return max(1, total // parts + (1 if number < total % parts else 0))


def _helper(pool: SendPool, number: int) -> None:
    with pool.app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    with pool.app.app_context(), pool.sender(number) as sender:
        sender.drain(on_progress=pool._count_attempted)
        if sender.relay_down.is_set():
            pool._relay_down.value = 1


"""A sender's claim reads little more than the rows it takes, however long the queue behind
it and however many rows are sent or held by a live sender already (issue 13, point 6).

The claim runs on the sender's event loop, so every row it reads holds up every connection:
one condition for waiting and abandoned rows was read as a scan of every due row, sorted,
24 ms a claim halfway through a 100k digest on PostgreSQL. These tests look at what the
database does with the claim's own statements (EXPLAIN, run on them as they are sent)
right after a digest's fan-out: that leaves most of the table new, and with the statistics
of before, the planner would choose to read all of it for each claim."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import event, insert, text

from newsletter import clock
from newsletter.delivery import queue
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, MailKind
from tests.support.flows import queue_digest

SENT, HELD, WAITING = 3000, 500, 2500
LIMIT = 200


def _fill(app) -> None:
    """Sent rows, rows a live sender holds, rows retrying later, then a digest's fan-out to
    WAITING readers: the queue as a sender finds it when a digest has just been built."""
    with app.app_context():
        now = clock.now()
        base = {"kind": MailKind.DIGEST_TEST, "context": {}, "attempts": 0, "created_at": now, "next_attempt_at": now}
        later = now + timedelta(hours=1)
        rows = (
            [{**base, "status": DeliveryStatus.SENT, "sent_at": now} for _ in range(SENT)]
            + [{**base, "status": DeliveryStatus.SENDING, "lease_expires_at": later} for _ in range(HELD)]
            + [{**base, "status": DeliveryStatus.RETRYING, "next_attempt_at": later} for _ in range(100)]
        )
        db.session.execute(insert(Delivery), [{"to_address": f"r{n}@example.org", **row} for n, row in enumerate(rows)])
        db.session.commit()
    queue_digest(app, WAITING)


def _plans_of(work):
    """Run ``work()``; its result, and the plan of each SELECT it sent, explained just before
    it ran."""
    plans = []

    def explain(connection, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("SELECT"):
            return
        if connection.dialect.name == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            document = cursor.fetchone()[0]
            plans.append((json.loads(document) if isinstance(document, str) else document)[0]["Plan"])
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append([row[-1] for row in cursor.fetchall()])

    event.listen(db.engine, "before_cursor_execute", explain)
    try:
        result = work()
    finally:
        event.remove(db.engine, "before_cursor_execute", explain)
    return result, plans


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _rows_read(plans: list[dict]) -> int:
    """Rows the plans' scans produced or looked at and dropped, over all their loops."""
    return sum(
        (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get("Actual Loops", 1)
        for plan in plans
        for node in _nodes(plan)
        if "Scan" in node["Node Type"] and node["Node Type"] != "Bitmap Heap Scan"
    )


def _sorts(plans: list[dict]) -> list[dict]:
    return [node for plan in plans for node in _nodes(plan) if node["Node Type"] == "Sort"]


def _steps(plans: list[list[str]]) -> list[str]:
    return [step for plan in plans for step in plan]


def test_after_a_fan_out_a_claim_reads_about_as_many_rows_as_it_takes(app):
    _fill(app)
    with app.app_context():
        claimed, plans = _plans_of(lambda: queue.claim(LIMIT))
        dialect = db.engine.dialect.name
    assert len(claimed) == LIMIT
    if dialect == "postgresql":
        assert not _sorts(plans), json.dumps(plans, indent=1)  # no sort of every due row
        assert _rows_read(plans) <= LIMIT + 10, json.dumps(plans, indent=1)
    else:
        assert not any("TEMP B-TREE" in step for step in _steps(plans)), plans  # no sort of every due row
        assert any("ix_delivery_waiting" in step for step in _steps(plans)), plans


def _counted_rows(table: str) -> int:
    """How many rows the planner believes ``table`` has."""
    if db.engine.dialect.name == "postgresql":
        return int(db.session.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar())
    stats = db.session.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t"), {"t": table}).scalars().all()
    return max((int(stat.split()[0]) for stat in stats), default=-1)  # partial indexes count fewer


def test_a_fan_out_leaves_the_planner_the_true_size_of_the_queue_and_of_the_subscribers(app):
    # With the counts of before the fan-out (or none), a claim walked every due row, and
    # composing 500 mails read every subscriber (100k digest: 24 ms a claim, a scan of all
    # subscribers per 500 mails).
    _fill(app)
    with app.app_context():
        assert _counted_rows("delivery") == SENT + HELD + 100 + WAITING
        assert _counted_rows("subscriber") == WAITING

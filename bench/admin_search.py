#!/usr/bin/env python3
"""Benchmark: the admin's subscriber list at N subscribers (search, filters, deep pages).

Fills a fresh database with N subscribers (bulk INSERT, mixed statuses and sources; one in
five imported, with its ``imported`` consent event; a few hundred addresses with "mueller"
somewhere inside), then times every query the list page runs: searches anywhere in the
address (rare, common, no match, two characters), the status and source filters, the
sources for the filter, the first page and a page far down (keyset), and the dashboard's
counts. Each case is one whole ``subscriber_search.search`` call (count, page, consent
dates). Prints the median of --repeat runs in milliseconds and flags any over --budget.
Never part of the test suite.

    .venv/bin/python bench/admin_search.py                                   # 150k rows, SQLite
    .venv/bin/python bench/admin_search.py --database postgresql             # 150k rows, PostgreSQL
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_admin_search"
PG_ADMIN_URI = os.environ.get("BENCH_PG_ADMIN_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def database_uri(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.db'}"
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('DROP DATABASE IF EXISTS "bench_admin_search" WITH (FORCE)'))
        connection.execute(text('CREATE DATABASE "bench_admin_search"'))
    admin.dispose()
    return PG_URI


def drop_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('DROP DATABASE IF EXISTS "bench_admin_search" WITH (FORCE)'))
    admin.dispose()


def fill_postgresql(rows: int) -> None:
    """The same rows as :func:`fill`, made by PostgreSQL itself (minutes faster at 150k)."""
    from newsletter.extensions import db

    db.session.execute(
        db.text(
            """
            INSERT INTO subscriber (email, status, locale, confirm_nonce, access_nonce, created_at,
                                    bounce_count, source, evidence_head)
            SELECT names[n % 10 + 1] || CASE WHEN n % 500 = 7 THEN '.mueller' ELSE '.' END || n
                       || '@example' || (n % 97) || '.org',
                   CASE WHEN n % 5 = 0 THEN 'confirmed' ELSE statuses[n % 10 + 1] END,
                   'de', 'n' || n, 'a' || n, timestamp '2025-01-01' + n * interval '1 minute', 0,
                   CASE WHEN n % 5 = 0 THEN sources[n % 4 + 1] END, ''
            FROM generate_series(0, :rows - 1) AS n,
                 (SELECT ARRAY['anna','bert','carla','dora','emil','frida','gustav','hanna','ida','jan'] AS names,
                         ARRAY['confirmed','confirmed','confirmed','confirmed','confirmed','confirmed',
                               'pending','withdrawn','suspended','confirmed'] AS statuses,
                         ARRAY['messe','shop','mailchimp','listmonk'] AS sources) AS choices
            ORDER BY n
            """
        ),
        {"rows": rows},
    )
    db.session.execute(
        db.text(
            """
            INSERT INTO consent_event (subscriber_id, type, at, channel, detail, personal_digest, prev_hash, hash)
            SELECT id, 'imported', timestamp '2025-01-01', 'import',
                   '{"consented_at": "2019-05-04T10:00:00+00:00", "source": "messe"}'::json,
                   repeat('0', 64), '', repeat('0', 64)
            FROM subscriber WHERE source IS NOT NULL
            """
        )
    )
    db.session.commit()


def fill(rows: int) -> None:
    from sqlalchemy import insert, select

    from newsletter.extensions import db
    from newsletter.models import (
        ConsentChannel,
        ConsentEvent,
        ConsentEventType,
        Subscriber,
        SubscriberStatus,
    )

    statuses = [SubscriberStatus.CONFIRMED] * 6 + [
        SubscriberStatus.PENDING,
        SubscriberStatus.WITHDRAWN,
        SubscriberStatus.SUSPENDED,
        SubscriberStatus.CONFIRMED,
    ]
    names = ["anna", "bert", "carla", "dora", "emil", "frida", "gustav", "hanna", "ida", "jan"]
    sources = ["messe", "shop", "mailchimp", "listmonk"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch = []

    def address(number: int) -> str:
        if number % 500 == 7:  # about 300 in 150k: "mueller" inside, never at the start
            return f"{names[number % 10]}.mueller{number}@example{number % 97}.org"
        return f"{names[number % 10]}.{number}@example{number % 97}.org"

    for number in range(rows):
        imported = number % 5 == 0
        batch.append(
            {
                "email": address(number),
                "status": SubscriberStatus.CONFIRMED if imported else statuses[number % 10],
                "locale": "de",
                "confirm_nonce": f"n{number}",
                "access_nonce": f"a{number}",
                "created_at": start + timedelta(minutes=number),
                "bounce_count": 0,
                "source": sources[number % 4] if imported else None,
            }
        )
        if len(batch) == 10_000:
            db.session.execute(insert(Subscriber), batch)
            batch = []
    if batch:
        db.session.execute(insert(Subscriber), batch)
    imported_ids = db.session.execute(select(Subscriber.id).where(Subscriber.source.is_not(None))).scalars().all()
    events = [
        {
            "subscriber_id": subscriber_id,
            "type": ConsentEventType.IMPORTED,
            "at": start,
            "channel": ConsentChannel.IMPORT,
            "detail": {"consented_at": "2019-05-04T10:00:00+00:00", "source": "messe"},
            "personal_digest": "0" * 64,
            "prev_hash": "",
            "hash": "0" * 64,
        }
        for subscriber_id in imported_ids
    ]
    for first in range(0, len(events), 10_000):
        db.session.execute(insert(ConsentEvent), events[first : first + 10_000])
    db.session.commit()


def timed(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--budget", type=float, default=50.0, help="milliseconds a case may take")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    from newsletter import create_app
    from newsletter.admin import queries, subscriber_search
    from newsletter.extensions import db
    from newsletter.models import SubscriberStatus

    with tempfile.TemporaryDirectory() as folder:
        uri = database_uri(args.database, Path(folder))
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": uri}, instance_path=folder)
        with app.app_context():
            db.create_all()
            began = time.perf_counter()
            (fill_postgresql if args.database == "postgresql" else fill)(args.rows)
            print(
                f"{args.rows} subscribers in {args.database}: filled in {time.perf_counter() - began:.1f} s"
            )
            if args.database == "postgresql":  # as autovacuum leaves the tables after a bulk load
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(db.text("VACUUM ANALYZE subscriber"))
                    connection.execute(db.text("VACUUM ANALYZE consent_event"))
            deep = db.session.execute(
                db.text("SELECT id FROM subscriber ORDER BY id LIMIT 1 OFFSET 100")
            ).scalar()
            deep_anna = db.session.execute(
                db.text("SELECT id FROM subscriber WHERE email LIKE 'anna%' ORDER BY id LIMIT 1 OFFSET 20")
            ).scalar()
            cases = {
                "first page, no filter": lambda: subscriber_search.search(),
                "contains 'mueller' (~300)": lambda: subscriber_search.search("mueller"),
                "contains 'MUELLER1234' (rare)": lambda: subscriber_search.search("MUELLER1234"),
                "contains 'hanna.4242@'": lambda: subscriber_search.search("hanna.4242@"),
                "contains 'example' (all)": lambda: subscriber_search.search("example"),
                "contains '@example4' (common)": lambda: subscriber_search.search("@example4"),
                "contains 'zzz' (no match)": lambda: subscriber_search.search("zzz"),
                "contains 'q_x%' (no match)": lambda: subscriber_search.search("q_x%"),
                "contains 'na' (2 letters)": lambda: subscriber_search.search("na"),
                "status pending": lambda: subscriber_search.search(status=SubscriberStatus.PENDING),
                "source messe": lambda: subscriber_search.search(source="messe"),
                "'mueller' + source shop": lambda: subscriber_search.search("mueller", source="shop"),
                "'anna' + confirmed": lambda: subscriber_search.search("anna", SubscriberStatus.CONFIRMED),
                "'mueller' + suspended": lambda: subscriber_search.search(
                    "mueller", SubscriberStatus.SUSPENDED
                ),
                "page near the end (keyset)": lambda: subscriber_search.search(after=deep),
                "'anna' page near the end": lambda: subscriber_search.search("anna", after=deep_anna),
                "sources for the filter": subscriber_search.sources,
                "dashboard status counts": queries.status_counts,
            }
            over = []
            for name, case in cases.items():
                case()  # warm: the first call compiles the statement
                db.session.rollback()
                median = timed(case, args.repeat)
                print(f"  {name:34} {median:8.2f} ms{'  OVER BUDGET' if median > args.budget else ''}")
                if median > args.budget:
                    over.append(name)
                db.session.rollback()
            print(f"  every case under {args.budget:.0f} ms" if not over else f"  over {args.budget:.0f} ms: {over}")
            db.session.remove()
            db.engine.dispose()
        if args.database == "postgresql":
            drop_database()


if __name__ == "__main__":
    main()

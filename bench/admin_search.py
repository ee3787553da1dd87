#!/usr/bin/env python3
"""Benchmark: the admin's subscriber list at N subscribers (search, filter, deep pages).

Fills a fresh database with N subscribers (bulk INSERT, mixed statuses), then times
the list queries the admin pages run: prefix searches, a status filter, the first page and
a page far down (keyset), and the dashboard's counts. Prints the median of --repeat runs
of each in milliseconds. Never part of the test suite.

    .venv/bin/python bench/admin_search.py                          # 100k rows, SQLite
    .venv/bin/python bench/admin_search.py --rows 200000 --database postgresql
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_admin_search"
PG_ADMIN_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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


def fill(rows: int) -> None:
    from sqlalchemy import insert

    from newsletter.extensions import db
    from newsletter.models import Subscriber, SubscriberStatus

    statuses = [SubscriberStatus.CONFIRMED] * 6 + [
        SubscriberStatus.PENDING,
        SubscriberStatus.WITHDRAWN,
        SubscriberStatus.SUSPENDED,
        SubscriberStatus.CONFIRMED,
    ]
    names = ["anna", "bert", "carla", "dora", "emil", "frida", "gustav", "hanna", "ida", "jan"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch = []
    for number in range(rows):
        batch.append(
            {
                "email": f"{names[number % 10]}.{number}@example{number % 97}.org",
                "status": statuses[number % 10],
                "locale": "de",
                "confirm_nonce": f"n{number}",
                "access_nonce": f"a{number}",
                "created_at": start + timedelta(minutes=number),
                "bounce_count": 0,
            }
        )
        if len(batch) == 10_000:
            db.session.execute(insert(Subscriber), batch)
            batch = []
    if batch:
        db.session.execute(insert(Subscriber), batch)
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
    parser.add_argument("--rows", type=int, default=100_000)
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
            fill(args.rows)
            print(
                f"{args.rows} subscribers in {args.database}: filled in {time.perf_counter() - began:.1f} s"
            )
            if args.database == "postgresql":
                db.session.execute(db.text("ANALYZE subscriber"))
                db.session.commit()
            deep = db.session.execute(
                db.text("SELECT id FROM subscriber ORDER BY id LIMIT 1 OFFSET 100")
            ).scalar()
            cases = {
                "first page, no filter": lambda: subscriber_search.search(),
                "prefix 'hanna.4'": lambda: subscriber_search.search("hanna.4"),
                "prefix 'HANNA.4242@'": lambda: subscriber_search.search("HANNA.4242@"),
                "prefix 'zzz' (no match)": lambda: subscriber_search.search("zzz"),
                "status pending": lambda: subscriber_search.search(status=SubscriberStatus.PENDING),
                "page near the end (keyset)": lambda: subscriber_search.search(after=deep),
                "prefix 'anna' + confirmed": lambda: subscriber_search.search(
                    "anna", SubscriberStatus.CONFIRMED
                ),
                "dashboard status counts": queries.status_counts,
            }
            for name, case in cases.items():
                print(f"  {name:32} {timed(case, args.repeat):8.2f} ms")
                db.session.rollback()
            db.session.remove()
            db.engine.dispose()
        if args.database == "postgresql":
            drop_database()


if __name__ == "__main__":
    main()

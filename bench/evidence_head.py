#!/usr/bin/env python3
"""Benchmark: evidence heads over N subscribers (one imported consent event each).

For each N, on a fresh database: ``import-subscribers`` of N confirmed rows, then timed, each
as its own ``flask`` process with peak RSS: ``verify-evidence`` (the chains alone, for
comparison), the first ``evidence-head`` (which writes N ledger lines), a second one (nothing
left to write), and ``verify-evidence --head`` (the chains, then the head).

    .venv/bin/python bench/evidence_head.py --database sqlite
    .venv/bin/python bench/evidence_head.py --admin-uri postgresql+psycopg://postgres@127.0.0.1:5432/mine

On PostgreSQL the database ``<admin database>_evidence_bench`` is created next to the one
``--admin-uri`` names, and dropped afterwards. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from send_digest import flask, write_subscribers
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def fresh_database(admin_uri: str | None, folder: Path) -> tuple[str, object]:
    """The URI of an empty database, and a function that drops it again."""
    if admin_uri is None:
        return f"sqlite:///{folder / 'bench.db'}", lambda: None
    url = make_url(admin_uri)
    name = f"{url.database}_evidence_bench"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")

    def run(statement: str) -> None:
        with admin.connect() as connection:
            connection.execute(text(statement))

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), lambda: run(
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    )


def one_size(size: int, admin_uri: str | None) -> list[tuple[str, float, float, str]]:
    with tempfile.TemporaryDirectory() as folder:
        folder_path = Path(folder)
        uri, drop = fresh_database(admin_uri, folder_path)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))},
            "NEWSLETTER_SECRET_KEY": "bench-secret-key-bench-secret-key",
            "NEWSLETTER_INSTANCE_PATH": str(folder_path / "instance"),
            "NEWSLETTER_SQLALCHEMY_DATABASE_URI": uri,
        }
        try:
            flask(env, "db", "upgrade")
            csv_path = folder_path / "subscribers.csv"
            write_subscribers(csv_path, size)
            flask(env, "import-subscribers", str(csv_path))
            results = []
            for label, args in (
                ("verify-evidence", ["verify-evidence"]),
                ("evidence-head (first)", ["evidence-head"]),
                ("evidence-head (again)", ["evidence-head"]),
            ):
                seconds, peak_kib, output = flask(env, *args)
                results.append((label, seconds, peak_kib / 1024, output.strip().splitlines()[-1]))
            head = output.splitlines()[0]
            seconds, peak_kib, output = flask(env, "verify-evidence", "--head", head)
            results.append(("verify-evidence --head", seconds, peak_kib / 1024, output.strip().splitlines()[-1]))
            return results
        finally:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--admin-uri", help="PostgreSQL: a database to connect to while creating the bench's own")
    args = parser.parse_args()
    if args.database == "postgres" and not args.admin_uri:
        parser.error("--admin-uri is needed for PostgreSQL")
    admin_uri = args.admin_uri if args.database == "postgres" else None
    print(f"database: {args.database}")
    print(f"{'N':>8} {'command':<24} {'wall s':>7} {'peak RSS MB':>12}  last line")
    for size in args.sizes:
        for label, seconds, peak_mb, last in one_size(size, admin_uri):
            print(f"{size:>8} {label:<24} {seconds:>7.2f} {peak_mb:>12.1f}  {last}", flush=True)


if __name__ == "__main__":
    main()

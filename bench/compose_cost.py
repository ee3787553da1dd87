#!/usr/bin/env python3
"""Benchmark: the CPU cost per mail of the send path's compose step, without the network.

3,000 digest deliveries (half German, half English) on SQLite; each round fills the prepared
digest for every reader and writes the message bytes (``kinds.DigestMail.content`` and
``compose.build_message``), timed with ``time.process_time`` (so a busy machine skews it far less
than the end-to-end ``send_digest.py``). Prints the median of 5 rounds and one mail's size.

    .venv/bin/python bench/compose_cost.py        # from the checkout to measure
"""
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from newsletter import create_app, digest
from newsletter.clock import FrozenClock
from newsletter.delivery import compose, kinds
from newsletter.extensions import db
from newsletter.models import Delivery, DigestTrigger
from tests.support.database import reset_database
from tests.support.factories import add_article, add_subscriber

N = 3000
with tempfile.TemporaryDirectory() as folder:
    settings = {
        "TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/b.db",
        "MAIL_BACKEND": "memory", "SITE_NAME": "Beispiel Verlag", "SITE_ADDRESS": "Musterstraße 1, 10115 Berlin",
        "MAIL_DEFAULT_SENDER": "Beispiel Verlag <news@example.org>", "BASE_URL": "https://news.example.org",
    }
    app = create_app(settings, clock_=FrozenClock(datetime(2026, 3, 2, 8, tzinfo=UTC)), instance_path=folder)
    with app.app_context():
        reset_database(app.config["SQLALCHEMY_DATABASE_URI"])
        for i in range(N):
            add_subscriber(f"reader{i}@example.org", locale="de" if i % 2 else "en")
        for i in range(5):
            summary = "Ab dem 1. April gelten neue Preise für Versand & Verpackung. " * 3
            add_article(f"Artikel {i}: was sich für Sie ändert", summary=summary)
        db.session.commit()
        digest.build_digest(DigestTrigger.COMMAND)
        db.session.commit()
        rows = list(db.session.execute(db.select(Delivery)).scalars())
        for row in rows:
            row.subscriber  # noqa: B018  (load outside the timing)
        spec = kinds.SPECS[rows[0].kind]
        when = datetime(2026, 3, 2, 8, tzinfo=UTC)
        spec.content(rows[0])  # the per-language rendering, once
        spec.content(rows[1])
        rounds = []
        for _ in range(5):
            started = time.process_time()
            for row in rows:
                compose.build_message(spec.content(row), row.subscriber.email, date=when)
            rounds.append((time.process_time() - started) / len(rows) * 1e6)
        size = len(compose.build_message(spec.content(rows[0]), rows[0].subscriber.email, date=when).data)
        print(f"{statistics.median(rounds):.1f} µs CPU per mail (median of 5 rounds of {N}); {size} bytes")

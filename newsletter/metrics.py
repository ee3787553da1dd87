"""``/metrics`` in Prometheus' text format, counted from the database at scrape time.

A custom collector (rather than prometheus-client's in-process counters): the mails are sent
by the worker, a process of its own, while the web process answers the scrape. The counters
are the rows as they stand; Prometheus' ``rate()`` takes a drop (rows purged) as a reset.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import clock, mailfigures
from .models import DeliveryStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DatabaseCollector:
    """The mail and bounce figures of :mod:`newsletter.mailfigures`, as Prometheus metrics."""

    def collect(self) -> Iterator[Metric]:
        figures = mailfigures.read()
        mails = figures.mails
        yield _counter("newsletter_mails_sent", "Mails the relay accepted.", mails.count(DeliveryStatus.SENT))
        yield _counter(
            "newsletter_mails_failed", "Mails refused for good or given up after the last retry.",
            mails.count(DeliveryStatus.FAILED),
        )
        bounces = CounterMetricFamily(
            "newsletter_bounces", "Bounces and complaints charged to subscribers, by kind.", labels=["kind"]
        )
        for kind, count in figures.bounces.items():
            bounces.add_metric([kind.value], count)
        yield bounces
        yield GaugeMetricFamily(
            "newsletter_mails_queued", "Mails waiting for a sender (queued, retrying or being sent).",
            value=mails.count(*mailfigures.WAITING),
        )
        yield GaugeMetricFamily(
            "newsletter_mails_held", "Mails of stopped digests, held until an admin resumes them.",
            value=mails.count(DeliveryStatus.HELD),
        )
        yield GaugeMetricFamily(
            "newsletter_oldest_due_mail_age_seconds", "How long the longest-waiting due mail has been due.",
            value=mails.oldest_due_age(clock.now()),
        )


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def exposition() -> bytes:
    """The current figures in the text format; needs an app context."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)

"""The dashboard: subscribers by status, the last 30 days, the next and the last digests (SPEC §4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from newsletter import consent
from newsletter.admin import queries
from newsletter.extensions import db
from newsletter.models import (
    ConsentChannel,
    ConsentEventType,
    Digest,
    DigestTrigger,
    SubscriberStatus,
)
from tests.support.factories import add_subscriber


def _stat(html: str, status: str) -> int:
    block = html[html.index(f'class="stat stat-{status}"') :]
    return int(
        re.search(r'class="stat-number">([\d.,\s]+)<', block).group(1).replace(".", "").replace(",", "")
    )


def test_counts_subscribers_by_status(app, admin_client):
    with app.app_context():
        for number in range(3):
            add_subscriber(f"c{number}@example.org")
        add_subscriber("p@example.org", SubscriberStatus.PENDING)
        add_subscriber("w1@example.org", SubscriberStatus.WITHDRAWN)
        add_subscriber("w2@example.org", SubscriberStatus.WITHDRAWN)
        add_subscriber("s@example.org", SubscriberStatus.SUSPENDED)
        db.session.commit()
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert (
        _stat(html, "confirmed"),
        _stat(html, "pending"),
        _stat(html, "withdrawn"),
        _stat(html, "suspended"),
    ) == (3, 1, 2, 1)
    assert _stat(html, "erased") == 0
    assert 'href="/admin/subscribers?status=suspended"' in html


def _event(subscriber, type_: ConsentEventType, at: datetime) -> None:
    consent.record(subscriber, type_, ConsentChannel.ADMIN, at=at)


def test_activity_counts_each_local_day_of_the_last_30(app, clock):
    # The clock: 2026-03-02 08:00 UTC (09:00 in Berlin). Berlin's midnight is 23:00 UTC.
    with app.app_context():
        anna = add_subscriber("anna@example.org", SubscriberStatus.PENDING)
        bert = add_subscriber("bert@example.org", SubscriberStatus.PENDING)
        carl = add_subscriber("carl@example.org", SubscriberStatus.PENDING)
        _event(anna, ConsentEventType.CONFIRMED, datetime(2026, 3, 1, 22, 59, tzinfo=UTC))  # 1 March, 23:59
        _event(bert, ConsentEventType.CONFIRMED, datetime(2026, 3, 1, 23, 0, tzinfo=UTC))  # 2 March, 00:00
        _event(carl, ConsentEventType.IMPORTED, datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
        _event(anna, ConsentEventType.WITHDRAWN, datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
        _event(bert, ConsentEventType.REQUESTED, datetime(2026, 3, 2, 7, 40, tzinfo=UTC))  # not a sign-up
        _event(carl, ConsentEventType.WITHDRAWN, datetime(2026, 1, 30, 12, 0, tzinfo=UTC))  # 31 days ago: out
        db.session.commit()
        activity = queries.daily_activity(30)
    assert len(activity.days) == 30
    assert activity.days[-1].day.isoformat() == "2026-03-02"
    assert activity.days[0].day.isoformat() == "2026-02-01"
    # An import is counted apart from the sign-ups (issue 19: a CSV of 5,308 rows is no sign-up).
    by_day = {day.day.isoformat(): (day.sign_ups, day.imports, day.withdrawals) for day in activity.days}
    assert by_day["2026-03-01"] == (1, 0, 0)
    assert by_day["2026-03-02"] == (1, 1, 1)
    assert (activity.sign_ups, activity.imports, activity.withdrawals) == (2, 1, 1)
    assert activity.peak == 1


def test_activity_follows_the_daylight_saving_change(app, clock):
    # Summer time starts on 29 March 2026: from then on Berlin's midnight is 22:00 UTC.
    clock.set(datetime(2026, 3, 31, 12, 0, tzinfo=UTC))
    with app.app_context():
        anna = add_subscriber("anna@example.org", SubscriberStatus.PENDING)
        bert = add_subscriber("bert@example.org", SubscriberStatus.PENDING)
        _event(anna, ConsentEventType.CONFIRMED, datetime(2026, 3, 29, 22, 30, tzinfo=UTC))  # 30 March 00:30
        _event(bert, ConsentEventType.CONFIRMED, datetime(2026, 3, 28, 22, 30, tzinfo=UTC))  # 28 March 23:30
        db.session.commit()
        by_day = {day.day.isoformat(): day.sign_ups for day in queries.daily_activity(30).days}
    assert by_day["2026-03-30"] == 1
    assert by_day["2026-03-28"] == 1
    assert by_day["2026-03-29"] == 0


def test_the_chart_is_inline_svg_with_one_group_per_day(app, admin_client):
    html = admin_client.get("/admin/").get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert svg.count("<g>") == 30
    assert "<script" not in html.lower().replace('<script src="/static/admin.js"', "")
    assert "http" not in re.sub(r'xmlns="[^"]*"', "", svg)  # nothing loaded from elsewhere


def test_next_digest_time_comes_from_the_schedule_in_the_configured_zone(app, admin_client, clock):
    # 2026-03-02 08:00 UTC is 09:00 in Berlin, past today's 07:00: the next one is tomorrow 07:00.
    with app.app_context():
        next_at = queries.next_digest_at()
    assert next_at.isoformat() == "2026-03-03T07:00:00+01:00"
    html = admin_client.get("/admin/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Tuesday, March 3, 2026, 7:00 AM GMT+01:00" in html.replace("\u202f", " ")  # CLDR: narrow space
    clock.set(datetime(2026, 3, 3, 5, 59, tzinfo=UTC))
    with app.app_context():
        assert queries.next_digest_at() == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)


def test_the_page_shows_sign_ups_and_imports_apart(app, admin_client, clock):
    with app.app_context():
        readers = [add_subscriber(f"r{number}@example.org", SubscriberStatus.PENDING) for number in range(5)]
        _event(readers[0], ConsentEventType.CONFIRMED, clock.now() - timedelta(hours=1))
        for reader in readers[1:]:
            _event(reader, ConsentEventType.IMPORTED, clock.now() - timedelta(hours=2))
        db.session.commit()
    html = admin_client.get("/admin/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert re.search(r"Sign-ups: <strong>1</strong>", html)
    assert re.search(r"Imported \(CSV, not in the chart\): <strong>4</strong>", html)
    german = admin_client.get("/admin/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert re.search(r"Importiert \(CSV, nicht im Diagramm\): <strong>4</strong>", german)


@pytest.mark.parametrize(
    ("line", "english", "german"),
    [
        ("0 7 * * *", "every day at 07:00", "täglich um 07:00"),
        ("30 6 * * 1", "on Mondays at 06:30", "montags um 06:30"),
        ("0 7 * * mon", "on Mondays at 07:00", "montags um 07:00"),
        ("0 7 * * 1,4", "on Mondays and Thursdays at 07:00", "montags und donnerstags um 07:00"),
        ("0 18 * * 1-5", "on Mondays to Fridays at 18:00", "montags bis freitags um 18:00"),
        ("0 7 * * 0", "on Sundays at 07:00", "sonntags um 07:00"),
        ("0 7 * * 7", "on Sundays at 07:00", "sonntags um 07:00"),
        ("0 9 1 * *", "on day 1 of every month at 09:00", "am 1. jedes Monats um 09:00"),
    ],
)
def test_the_schedule_is_said_in_words_in_the_admins_language(app, admin_client, line, english, german):
    app.config["DIGEST_SCHEDULE"] = line
    html = admin_client.get("/admin/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"Schedule: {english} (Europe/Berlin)" in html
    assert f"<code>{line}</code>" in html  # the line itself stays beside the words
    html = admin_client.get("/admin/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert f"Zeitplan: {german} (Europe/Berlin)" in html


@pytest.mark.parametrize(
    "line", ["0 7,19 * * *", "*/15 * * * *", "0 7 * 1 *", "0 7 1 * 1", "0 7 * * 1-5/2", "0 7 * * */2"]
)
def test_a_schedule_not_said_simply_is_shown_as_the_crontab_line(app, admin_client, line):
    app.config["DIGEST_SCHEDULE"] = line
    html = admin_client.get("/admin/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert f"Zeitplan: {line} (Europe/Berlin)" in html


def test_a_broken_schedule_is_shown_not_a_500(app, admin_client):
    app.config["DIGEST_SCHEDULE"] = "every morning"
    response = admin_client.get("/admin/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "not a valid crontab line" in response.get_data(as_text=True)


def test_the_last_digests_are_listed_with_their_counts(app, admin_client, clock):
    with app.app_context():
        for number in range(7):
            db.session.add(
                Digest(
                    created_at=clock.now() - timedelta(days=7 - number),
                    trigger=DigestTrigger.SCHEDULE,
                    subject=f"Issue {number}",
                    recipient_count=0,
                )
            )
        db.session.commit()
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert re.findall(r"Issue \d", html) == ["Issue 6", "Issue 5", "Issue 4", "Issue 3", "Issue 2"]

"""Feeds managed in the admin: add (checked as import-feed checks), remove, poll now (queued for
the worker, never fetched on the request), the last result and warnings."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from newsletter import feed_sources, scheduler, webclient
from newsletter.extensions import db
from newsletter.models import Article, Feed
from tests.support.admin import csrf_token, post
from tests.support.httpserver import Resolver

RSS = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Beispiel Blog</title>'
    "<link>https://blog.example.org/</link><description>News</description>"
    "<item><guid>https://blog.example.org/?p=1</guid><title>First post</title>"
    "<link>https://blog.example.org/first</link><pubDate>Sun, 01 Mar 2026 10:00:00 +0100</pubDate></item>"
    "<item><guid>https://blog.example.org/?p=2</guid><title>Undated</title>"
    "<link>https://blog.example.org/undated</link></item>"
    "</channel></rss>"
)
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def feed(app, url: str) -> Feed | None:
    with app.app_context():
        row = db.session.execute(select(Feed).filter_by(url=url)).scalar_one_or_none()
        if row is not None:
            db.session.expunge(row)
        return row


def run_job(app, job_id: str) -> None:
    """What the worker does when the job comes due."""
    background = BackgroundScheduler()
    scheduler.add_jobs(app, background)
    background.get_job(job_id).func()


def add(client, url: str, language: str = "en"):
    return post(client, "/admin/feeds", {"url": url}, form_page="/admin/feeds", headers={"Accept-Language": language})


def test_adding_a_feed_queues_its_first_poll_for_the_worker(app, admin_client, http_server, clock):
    url = http_server.serve("/feed.xml", RSS, headers=RSS_TYPE)
    response = add(admin_client, url)
    assert response.status_code == 302
    assert http_server.requests == []  # nothing fetched on the admin's request
    added = feed(app, url)
    assert added.added_at == clock.now() and added.poll_requested_at == clock.now()
    page = admin_client.get("/admin/feeds", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "poll requested" in page

    run_job(app, "poll-feeds-now")
    assert len(http_server.requests) == 1
    polled = feed(app, url)
    assert polled.poll_requested_at is None
    assert polled.last_result == "ok" and polled.title == "Beispiel Blog"
    page = admin_client.get("/admin/feeds", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Beispiel Blog" in page and "poll requested" not in page
    assert "1 entry without a date: dated when first seen" in page  # the poll's warnings
    run_job(app, "poll-feeds-now")
    assert len(http_server.requests) == 1  # the request was taken once

    run_job(app, "poll-feeds")  # and from now on the regular poll includes it
    assert len(http_server.requests) == 2
    assert add(admin_client, url).status_code == 422  # polled already


@pytest.mark.parametrize(
    ("url", "german"),
    [
        ("http://127.0.0.1:8080/feed.xml", "Verbindung zu 127.0.0.1 abgelehnt: eine Loopback-Adresse"),
        ("http://2130706433/feed.xml", "Verbindung zu 2130706433 unter 127.0.0.1 abgelehnt: eine Loopback-Adresse"),
        ("http://169.254.169.254/latest/meta-data", "eine link-lokale Adresse"),
        ("http://[::ffff:10.0.0.1]/feed", "eine private Adresse"),
        ("http://localhost/feed", "Verbindung zu localhost unter 127.0.0.1 abgelehnt"),
        ("file:///etc/passwd", "Bitte eine Webadresse angeben, die mit http:// oder https:// beginnt."),
        ("ftp://example.org/feed.xml", "Bitte eine Webadresse angeben, die mit http:// oder https:// beginnt."),
        ("https://", "Bitte eine Webadresse angeben, die mit http:// oder https:// beginnt."),
    ],
)
def test_an_internal_or_non_web_address_is_refused(config, app, admin_client, url, german):
    app.config["FEED_ALLOW_PRIVATE_NETWORKS"] = False
    response = add(admin_client, url, "de")
    assert response.status_code == 422
    assert german in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Feed)).scalar_one() == 0


def test_a_name_resolving_to_an_internal_address_is_refused_by_the_worker(config, app, admin_client, monkeypatch):
    app.config["FEED_ALLOW_PRIVATE_NETWORKS"] = False
    resolver = Resolver(webclient.resolve)
    resolver.answer("intranet.example.org", [IPv4Address("10.0.0.5")])
    monkeypatch.setattr(webclient, "resolve", resolver)
    url = "http://intranet.example.org/feed.xml"
    assert add(admin_client, url).status_code == 302
    assert resolver.lookups == []  # no lookup on the admin's request
    run_job(app, "poll-feeds-now")
    assert feed(app, url).last_result == (
        "refused to connect to intranet.example.org at 10.0.0.5: a private address (FEED_ALLOW_PRIVATE_NETWORKS is off)"
    )


def test_poll_now_queues_a_poll_and_fetches_nothing_on_the_request(app, admin_client, http_server, clock):
    url = http_server.serve("/feed.xml", RSS, headers=RSS_TYPE)
    app.config["FEED_URLS"] = [url]
    run_job(app, "poll-feeds")
    feed_id = feed(app, url).id
    assert len(http_server.requests) == 1
    clock.advance(minutes=3)

    response = post(admin_client, f"/admin/feeds/{feed_id}/poll", form_page="/admin/feeds")
    assert response.status_code == 302
    assert len(http_server.requests) == 1
    assert feed(app, url).poll_requested_at == clock.now()
    run_job(app, "poll-feeds-now")
    assert len(http_server.requests) == 2
    assert feed(app, url).last_polled_at == clock.now()
    assert admin_client.post(f"/admin/feeds/{feed_id}/poll").status_code == 400  # no CSRF token
    assert post(admin_client, "/admin/feeds/999/poll", form_page="/admin/feeds").status_code == 404


def test_removing_a_feed_stops_its_polling_and_keeps_its_articles(app, admin_client, http_server):
    url = http_server.serve("/feed.xml", RSS, headers=RSS_TYPE)
    add(admin_client, url)
    run_job(app, "poll-feeds-now")
    feed_id = feed(app, url).id
    response = post(admin_client, f"/admin/feeds/{feed_id}/remove", form_page="/admin/feeds")
    assert response.status_code == 302
    assert feed(app, url).removed_at is not None
    with app.app_context():
        assert feed_sources.polled_urls() == []
        assert db.session.execute(select(func.count()).select_from(Article)).scalar_one() == 2
    run_job(app, "poll-feeds")
    assert len(http_server.requests) == 1
    page = admin_client.get("/admin/feeds", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "removed" in page and "Poll now" not in page

    assert add(admin_client, url).status_code == 302  # added again: the same row, polled again
    assert feed(app, url).id == feed_id and feed(app, url).removed_at is None


def test_a_feed_from_feed_urls_is_not_removed_in_the_admin(app, admin_client, http_server):
    url = http_server.serve("/feed.xml", RSS, headers=RSS_TYPE)
    app.config["FEED_URLS"] = [url]
    run_job(app, "poll-feeds")
    feed_id = feed(app, url).id
    response = post(admin_client, f"/admin/feeds/{feed_id}/remove", form_page="/admin/feeds", follow_redirects=True,
                    headers={"Accept-Language": "en"})
    assert "This feed is set in FEED_URLS; remove it there." in response.get_data(as_text=True)
    assert feed(app, url).removed_at is None
    assert csrf_token(admin_client, "/admin/feeds")

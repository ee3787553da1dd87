"""Articles in the admin area: list with digests, create, edit, sanitising; bad input gets 4xx (SPEC §4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from newsletter.extensions import db
from newsletter.models import Article, ArticleSource, Digest, DigestTrigger, Feed
from tests.support.admin import post
from tests.support.factories import add_article

GOOD = {
    "title": "Zinsen steigen wieder",
    "url": "https://example.org/zinsen",
    "summary": "Was das für Sparer bedeutet <kurz>.",
    "body_html": '<p onclick="steal()">Text <b>fett</b></p><script>alert(1)</script>'
    '<a href="javascript:alert(2)">x</a><img src="https://example.org/a.png" onerror="x()">',
    "published_at": "2026-03-05T10:30",
}


def _articles(app) -> list[Article]:
    with app.app_context():
        rows = list(db.session.execute(db.select(Article).order_by(Article.id)).scalars())
        db.session.expunge_all()
        return rows


def test_create_sanitises_the_body_and_reads_the_time_in_the_configured_zone(app, admin_client):
    response = post(admin_client, "/admin/articles/new", GOOD)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/admin/articles"
    [article] = _articles(app)
    assert article.title == GOOD["title"]
    assert article.url == GOOD["url"]
    assert article.summary == GOOD["summary"]  # plain text, kept as typed
    assert article.source is ArticleSource.ADMIN
    assert article.digest_id is None
    for unsafe in ("<script", "onclick", "onerror", "javascript:", "steal()"):
        assert unsafe not in article.body_html
    assert "<b>fett</b>" in article.body_html
    assert 'src="https://example.org/a.png"' in article.body_html
    # 10:30 in Berlin on 5 March 2026 (CET, UTC+1) is 09:30 UTC.
    assert article.published_at == datetime(2026, 3, 5, 9, 30, tzinfo=UTC)

    listing = admin_client.get("/admin/articles").get_data(as_text=True)
    assert GOOD["title"] in listing
    assert "badge-queued" in listing  # not in a digest yet


def test_without_a_time_the_article_is_published_now(app, admin_client, clock):
    response = post(admin_client, "/admin/articles/new", {**GOOD, "published_at": ""})
    assert response.status_code == 302
    [article] = _articles(app)
    assert article.published_at == clock.now()


def test_edit_shows_the_local_time_and_saves_the_changes(app, admin_client):
    post(admin_client, "/admin/articles/new", GOOD)
    [article] = _articles(app)
    form = admin_client.get(f"/admin/articles/{article.id}/edit").get_data(as_text=True)
    assert 'value="2026-03-05T10:30"' in form
    assert 'value="Zinsen steigen wieder"' in form
    assert "&lt;script" not in form and "<script>alert" not in form

    changed = {
        **GOOD,
        "title": "Zinsen steigen",
        "body_html": "<p>Neu<iframe src='https://evil.example'></iframe></p>",
        "published_at": "2026-07-01T08:00",
    }
    response = post(admin_client, f"/admin/articles/{article.id}/edit", changed)
    assert response.status_code == 302, response.get_data(as_text=True)
    [saved] = _articles(app)
    assert saved.id == article.id
    assert saved.title == "Zinsen steigen"
    assert saved.body_html == "<p>Neu</p>"
    # 08:00 in Berlin on 1 July (CEST, UTC+2) is 06:00 UTC.
    assert saved.published_at == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": ""}, "title", "Please enter a title."),
        ({"title": "   "}, "title", "Please enter a title."),
        ({"title": "x" * 501}, "title", "The title is too long."),
        ({"url": ""}, "url", "Please enter the article"),
        ({"url": "javascript:alert(1)"}, "url", "starting with http:// or https://"),
        ({"url": "ftp://example.org/x"}, "url", "starting with http:// or https://"),
        ({"url": "https://"}, "url", "starting with http:// or https://"),
        ({"url": "https://example.org/" + "a" * 2000}, "url", "The address is too long."),
        ({"summary": "s" * 1001}, "summary", "The summary is too long."),
        ({"summary": "bad\x07bell"}, "summary", "without control characters"),
        ({"published_at": "gestern"}, "published_at", "Not a valid datetime value"),
        ({"published_at": "2026-02-30T10:00"}, "published_at", "Not a valid datetime value"),
    ],
)
def test_bad_input_gets_the_form_again_with_a_message(app, admin_client, changes, field, message):
    response = post(
        admin_client, "/admin/articles/new", {**GOOD, **changes}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = re.search(rf'<ul class="errors" id="{field}-errors" role="alert">(.*?)</ul>', html, re.S)
    assert errors is not None, html
    assert message in errors.group(1).replace("&#39;", "'")
    assert f'id="{field}"' in html and 'aria-invalid="true"' in html
    assert _articles(app) == []


def test_bad_input_on_edit_changes_nothing(app, admin_client):
    post(admin_client, "/admin/articles/new", GOOD)
    [article] = _articles(app)
    response = post(admin_client, f"/admin/articles/{article.id}/edit", {**GOOD, "title": "", "url": "nope"})
    assert response.status_code == 422
    assert _articles(app)[0].title == GOOD["title"]


def test_a_second_article_with_the_same_address_is_refused(app, admin_client):
    post(admin_client, "/admin/articles/new", GOOD)
    response = post(
        admin_client, "/admin/articles/new", {**GOOD, "title": "Other"}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    assert "exists already" in response.get_data(as_text=True)
    assert [article.title for article in _articles(app)] == [GOOD["title"]]


def test_the_list_names_the_digest_each_article_went_into(app, admin_client, clock):
    with app.app_context():
        issue = Digest(
            created_at=clock.now(), trigger=DigestTrigger.SCHEDULE, subject="News", recipient_count=3
        )
        db.session.add(issue)
        db.session.flush()
        add_article("Already mailed", digest_id=issue.id)
        add_article("Still waiting")
        db.session.commit()
        digest_id = issue.id
    html = admin_client.get("/admin/articles").get_data(as_text=True)
    mailed = html[html.index("Already mailed") :]
    assert f'href="/admin/digests/{digest_id}"' in mailed[: mailed.index("</tr>")]
    waiting = html[html.index("Still waiting") :]
    assert "badge-queued" in waiting[: waiting.index("</tr>")]


def test_editing_an_article_of_a_sent_digest_says_it_is_not_mailed_again(app, admin_client, clock):
    with app.app_context():
        issue = Digest(
            created_at=clock.now(), trigger=DigestTrigger.SCHEDULE, subject="News", recipient_count=0
        )
        db.session.add(issue)
        db.session.flush()
        article = add_article("Mailed", digest_id=issue.id)
        db.session.commit()
        article_id = article.id
    html = admin_client.get(f"/admin/articles/{article_id}/edit", headers={"Accept-Language": "en"})
    assert "not mailed again" in html.get_data(as_text=True)


def test_unknown_articles_are_a_404(app, admin_client):
    assert admin_client.get("/admin/articles/999/edit").status_code == 404
    assert post(admin_client, "/admin/articles/999/edit", GOOD).status_code == 404


def test_feed_sources_show_their_last_poll(app, admin_client, clock, config):
    with app.app_context():
        app.config["FEED_URLS"] = ["https://blog.example.org/feed.xml", "https://new.example.org/atom"]
        db.session.add(
            Feed(
                url="https://blog.example.org/feed.xml",
                title="Blog",
                last_polled_at=clock.now(),
                last_result="HTTP 503 from server",
                last_ok_at=None,
            )
        )
        db.session.add(  # as feeds.poll records a refused address, in English
            Feed(
                url="http://2130706433/feed.xml",
                last_polled_at=clock.now(),
                last_result="refused to connect to 2130706433 at 127.0.0.1: a loopback address"
                " (FEED_ALLOW_PRIVATE_NETWORKS is off)",
            )
        )
        db.session.commit()
    html = admin_client.get("/admin/feeds", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "https://blog.example.org/feed.xml" in html
    assert "HTTP 503 from server" in html
    assert "https://new.example.org/atom" in html and "not polled yet" in html
    assert (
        "refused to connect to 2130706433 at 127.0.0.1: a loopback address (FEED_ALLOW_PRIVATE_NETWORKS is off)"
        in html
    )
    german = admin_client.get("/admin/feeds", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert (
        "Verbindung zu 2130706433 unter 127.0.0.1 abgelehnt: eine Loopback-Adresse"
        " (FEED_ALLOW_PRIVATE_NETWORKS ist aus)" in german
    )

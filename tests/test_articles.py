"""Articles: the rules every article obeys, whoever adds it, and the add-article command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from newsletter import articles
from newsletter.articles import ArticleError, Outcome
from newsletter.extensions import db
from newsletter.models import Article, ArticleSource, Digest, DigestTrigger
from tests.support.clocks import START

URL = "https://example.org/posts/1"


def save(**fields) -> articles.Saved:
    fields.setdefault("title", "Spring sale")
    fields.setdefault("url", URL)
    fields.setdefault("source", ArticleSource.ADMIN)
    return articles.save_article(**fields)


def article_count() -> int:
    return db.session.execute(select(func.count()).select_from(Article)).scalar_one()


def test_a_new_article_is_created_with_its_url_as_identity_and_now_as_publication_time(app):
    with app.app_context():
        saved = save(summary="Everything half price.")
        db.session.commit()
        article = db.session.get(Article, saved.article.id)
        assert saved.outcome is Outcome.CREATED
        assert (article.guid, article.title, article.url) == (URL, "Spring sale", URL)
        assert article.summary == "Everything half price."
        assert article.published_at == article.created_at == article.updated_at == START
        assert article.source is ArticleSource.ADMIN
        assert article.digest_id is None and article.feed_id is None


def test_saving_the_same_article_again_changes_nothing(app, clock):
    with app.app_context():
        save(summary="Teaser", published_at=START - timedelta(days=1))
        db.session.commit()
        clock.advance(hours=1)
        again = save(summary="Teaser", published_at=START - timedelta(days=1))
        assert again.outcome is Outcome.UNCHANGED
        assert again.article.updated_at == START
        assert article_count() == 1


def test_saving_changed_content_updates_the_one_article(app, clock):
    with app.app_context():
        first = save(summary="Teaser")
        db.session.commit()
        clock.advance(hours=2)
        second = save(title="Spring sale, extended", summary=None)
        db.session.commit()
        assert second.outcome is Outcome.UPDATED
        assert second.article.id == first.article.id
        assert second.article.title == "Spring sale, extended"
        assert second.article.summary is None  # the article is now as given
        assert second.article.updated_at == START + timedelta(hours=2)
        assert second.article.published_at == START  # no time given: the known one stays
        assert article_count() == 1


def test_an_update_keeps_the_origin_of_the_article(app, clock):
    with app.app_context():
        save(source=ArticleSource.CLI)
        db.session.commit()
        updated = save(title="New title", source=ArticleSource.FEED)
        assert updated.article.source is ArticleSource.CLI


def test_an_article_in_a_digest_can_be_corrected_but_never_leaves_its_digest(app, clock):
    with app.app_context():
        issue = Digest(created_at=START, trigger=DigestTrigger.COMMAND, subject="News", recipient_count=0)
        db.session.add(issue)
        saved = save()
        saved.article.digest_id = issue.id
        db.session.commit()
        corrected = save(title="Spring sale (corrected)", published_at=START + timedelta(days=3))
        db.session.commit()
        article = db.session.get(Article, saved.article.id)
        assert corrected.outcome is Outcome.UPDATED
        assert article.title == "Spring sale (corrected)"
        assert article.digest_id == issue.id


def test_update_article_edits_a_known_article_under_the_same_rules(app, clock):
    with app.app_context():
        article = save().article
        db.session.commit()
        clock.advance(minutes=5)
        outcome = articles.update_article(
            article, title="  Edited  ", url="https://example.org/posts/1-edited", summary="New"
        )
        assert outcome is Outcome.UPDATED
        assert (article.title, article.url, article.guid) == ("Edited", "https://example.org/posts/1-edited", URL)
        assert articles.update_article(
            article, title="Edited", url="https://example.org/posts/1-edited", summary="New"
        ) is Outcome.UNCHANGED
        with pytest.raises(ArticleError):
            articles.update_article(article, title="", url=URL)
        assert article.title == "Edited"


def test_publication_time_is_stored_in_utc(app):
    with app.app_context():
        eastern = timezone(timedelta(hours=-5))
        saved = save(published_at=datetime(2026, 3, 1, 22, 30, tzinfo=eastern))
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Article, saved.article.id).published_at == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "must not be empty"),
        ({"title": "   "}, "title", "must not be empty"),
        ({"title": "Two\nlines"}, "title", "single line"),
        ({"title": "Header\r\nBcc: x@example.org"}, "title", "single line"),
        ({"title": "x" * 501}, "title", "longer than 500"),
        ({"url": ""}, "url", "must not be empty"),
        ({"url": "/posts/1"}, "url", "http:// or https://"),
        ({"url": "example.org/posts/1"}, "url", "http:// or https://"),
        ({"url": "ftp://example.org/file"}, "url", "http:// or https://"),
        ({"url": "javascript:alert(1)"}, "url", "http:// or https://"),
        ({"url": "https://"}, "url", "no host name"),
        ({"url": "https://example.org:99999/"}, "url", "invalid host or port"),
        ({"url": "https://example.org/a b"}, "url", "spaces"),
        ({"url": "https://example.org/" + "a" * 1981}, "url", "longer than 2000"),
        ({"summary": "x" * 1001}, "summary", "longer than 1000"),
        ({"summary": "bell\x07"}, "summary", "control characters"),
        ({"published_at": datetime(2026, 3, 2, 9, 0)}, "published_at", "time zone"),
        ({"guid": "  "}, "guid", "must not be empty"),
    ],
)
def test_unusable_input_is_refused_with_a_clear_message_and_nothing_is_written(app, fields, field, message):
    with app.app_context():
        with pytest.raises(ArticleError, match=message) as raised:
            save(**fields)
        assert raised.value.field == field
        assert isinstance(raised.value, ValueError)
        assert article_count() == 0


def test_the_longest_allowed_title_and_url_are_accepted(app):
    with app.app_context():
        url = "https://example.org/" + "a" * 1980
        saved = save(title="t" * 500, url=url)
        db.session.commit()
        assert len(saved.article.title) == 500 and saved.article.url == url


def test_a_summary_is_plain_text_kept_as_written(app):
    with app.app_context():
        saved = save(summary="  If a < b and <b>bold</b> stays literal.\r\nSecond line.  ")
        assert saved.article.summary == "If a < b and <b>bold</b> stays literal.\nSecond line."


def test_body_html_is_sanitised_before_it_is_stored(app):
    body = (
        '<p onclick="steal()">Hello <b>world</b><script>alert(1)</script></p>'
        '<a href="javascript:alert(2)">bad</a> <a href="https://example.org/">good</a>'
        '<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>'
    )
    with app.app_context():
        saved = save(body_html=body)
        db.session.commit()
        db.session.expire_all()
        stored = db.session.get(Article, saved.article.id).body_html
    assert "<script" not in stored and "alert(1)" not in stored
    assert "onclick" not in stored and "javascript:" not in stored
    assert "<iframe" not in stored and "<style" not in stored
    assert "<p>Hello <b>world</b></p>" in stored
    assert '<a href="https://example.org/" rel="noopener noreferrer">good</a>' in stored


def test_summary_from_html_drops_markup_resolves_entities_and_shortens():
    html = "<p>Caf&eacute; &amp; more</p><p>Second&nbsp;para<script>x()</script><br>line</p>"
    assert articles.summary_from_html(html) == "Café & more\n\nSecond para\nline"
    long_text = "<p>" + "word " * 400 + "</p>"
    short = articles.summary_from_html(long_text)
    assert len(short) <= articles.MAX_SUMMARY_LENGTH and short.endswith("word…")
    assert articles.summary_from_html("<p> </p>") is None


# --- flask add-article --------------------------------------------------------------


def stored_articles(app) -> list[Article]:
    with app.app_context():
        return db.session.execute(select(Article).order_by(Article.id)).scalars().all()


def test_add_article_creates_an_article_from_the_command_line(app, runner):
    result = runner.invoke(
        args=["add-article", "--title", "Spring sale", "--url", URL, "--summary", "Half price."]
    )
    assert result.exit_code == 0, result.output
    assert "article 1 created: Spring sale" in result.output
    assert "published 2026-03-02 09:00 CET" in result.output  # START in TIMEZONE
    (article,) = stored_articles(app)
    assert (article.title, article.url, article.summary) == ("Spring sale", URL, "Half price.")
    assert article.source is ArticleSource.CLI
    assert article.published_at == START


def test_add_article_with_a_known_url_updates_it(app, runner):
    runner.invoke(args=["add-article", "--title", "Spring sale", "--url", URL])
    again = runner.invoke(args=["add-article", "--title", "Spring sale", "--url", URL])
    changed = runner.invoke(args=["add-article", "--title", "Summer sale", "--url", URL])
    assert "article 1 unchanged" in again.output
    assert changed.exit_code == 0 and "article 1 updated: Summer sale" in changed.output
    assert [article.title for article in stored_articles(app)] == ["Summer sale"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-03-01T09:30", datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),  # CET, UTC+1
        ("2026-07-01T09:30:00", datetime(2026, 7, 1, 7, 30, tzinfo=UTC)),  # CEST, UTC+2
        ("2026-03-01", datetime(2026, 2, 28, 23, 0, tzinfo=UTC)),  # local midnight
        ("2026-03-01T09:30Z", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("2026-03-01T09:30:00+05:30", datetime(2026, 3, 1, 4, 0, tzinfo=UTC)),
    ],
)
def test_published_at_without_a_zone_is_local_time_in_timezone(app, runner, given, stored):
    result = runner.invoke(args=["add-article", "--title", "T", "--url", URL, "--published-at", given])
    assert result.exit_code == 0, result.output
    (article,) = stored_articles(app)
    assert article.published_at == stored


@pytest.fixture
def new_york(config) -> None:
    config["TIMEZONE"] = "America/New_York"


def test_published_at_follows_the_configured_timezone(new_york, app, runner):
    result = runner.invoke(args=["add-article", "--title", "T", "--url", URL, "--published-at", "2026-03-01T09:30"])
    assert result.exit_code == 0, result.output
    assert "published 2026-03-01 09:30 EST" in result.output
    assert stored_articles(app)[0].published_at == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--title", "T", "--url", "example.org/post"], "Invalid value for '--url': the URL must start with http"),
        (["--title", "", "--url", URL], "Invalid value for '--title': the title must not be empty"),
        (["--title", "x" * 501, "--url", URL], "longer than 500 characters"),
        (["--title", "T", "--url", URL, "--summary", "s" * 1001], "'--summary': the summary is longer"),
        (["--title", "T", "--url", URL, "--published-at", "yesterday"], "'yesterday' is not an ISO 8601 time"),
        (["--title", "T", "--url", URL, "--published-at", "2026-02-30"], "is not an ISO 8601 time"),
        (["--url", URL], "Missing option '--title'"),
    ],
)
def test_add_article_refuses_bad_input_with_a_message_and_no_traceback(app, runner, args, message):
    result = runner.invoke(args=["add-article", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # click's usage error, nothing unhandled
    assert stored_articles(app) == []

"""Feeds as publishers' sites send them (issue 15 point 3): broken-but-recoverable documents are
read with a warning instead of refused, without giving up the protection against entities;
German dates and zones are read, nothing is dated in the future, undated entries are dated when
first seen with a warning; legacy encodings are detected; a first import's old entries are backlog.

Feeds are served by a real HTTP server on loopback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from newsletter import feeds
from newsletter.extensions import db
from newsletter.models import Article, Feed, KeptOut
from tests.support.clocks import START
from tests.support.realfeeds import GERMAN, JAPANESE, RUSSIAN, wordpress, wp_item

RSS_TYPE = {"Content-Type": "application/rss+xml; charset=UTF-8"}
ENTITIES_REFUSED = "the document declares XML entities (refused: entity expansion attack)"
NOT_WELL_FORMED = "warning: the feed is not well-formed XML:"


def articles_of(app) -> list[Article]:
    with app.app_context():
        rows = db.session.execute(select(Article).order_by(Article.published_at.desc(), Article.id)).scalars().all()
        db.session.expunge_all()
        return rows


def feed_of(app, url: str) -> Feed:
    with app.app_context():
        return db.session.execute(select(Feed).filter_by(url=url)).scalar_one()


def import_feed(runner, url: str):
    return runner.invoke(args=["import-feed", url])


# --- recoverable documents ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        pytest.param(wordpress(wp_item(1, "Neue Brötchen&nbsp;&ndash; jetzt mit &auml;pfeln"), before=""),
                     "undefined entity", id="html-entities"),
        pytest.param(wordpress(wp_item(1, "Neue Brötchen – jetzt mit äpfeln"), before="\n"),
                     "XML or text declaration not at start of entity", id="blank-line-before-declaration"),
        pytest.param(wordpress(wp_item(1, "Neue Brötchen – jetzt mit äpfeln & Zimt"), before=""),
                     "not well-formed (invalid token)", id="bare-ampersand"),
    ],
)  # fmt: skip
def test_a_broken_but_recoverable_feed_is_imported_with_a_warning(
    app, runner, http_server, admin_client, document, problem
):
    url = http_server.serve("/feed/", document, headers=RSS_TYPE)
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    first, *warnings = result.output.splitlines()
    assert first == f"{url}: 1 new, 0 updated, 0 unchanged"
    assert len(warnings) == 2  # the document, and the entry without a date
    assert warnings[0].startswith(f"{NOT_WELL_FORMED} {problem}") and "tolerant parser" in warnings[0]
    (article,) = articles_of(app)
    assert article.title.startswith("Neue Brötchen – jetzt mit äpfeln")
    assert article.title.endswith("& Zimt") == ("& Zimt" in document)
    feed = feed_of(app, url)
    assert (feed.last_result, feed.title) == ("ok", "Bäckerei Müller – Neues aus der Backstube")
    assert feed.last_warnings.splitlines()[0] == warnings[0].removeprefix("warning: ")
    page = admin_client.get("/admin/feeds", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "warnings" in page and problem in page
    german = admin_client.get("/admin/feeds", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Warnungen" in german and f"kein wohlgeformtes XML ({problem}" in german
    assert "vom toleranten Parser gelesen" in german and "1 Eintrag ohne Datum: datiert auf den ersten Abruf" in german


def test_the_tolerant_parser_resolves_no_external_entity_and_expands_none(app, http_server, monkeypatch):
    """Entities declared in the document are refused before any parser sees them; and even with
    that check out of the way nothing is expanded (expat stops at its amplification limit,
    feedparser's tolerant mode drops the DTD) and no file or URL an entity or DTD names is read."""
    dtd = http_server.serve("/evil.dtd", '<!ENTITY xxe SYSTEM "file:///etc/passwd">')
    laughs = "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    )
    billion = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">' + laughs + "]>"
        '<rss version="2.0"><channel><title>&lol9; & bare</title>'
        "<item><title>&lol9;</title><link>https://evil.example/1</link></item></channel></rss>"
    )
    external = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
        f'<!ENTITY web SYSTEM "{dtd}">]>'
        '<rss version="2.0"><channel><title>A & B</title>'
        "<item><title>x &xxe; &web;</title><link>https://evil.example/1</link></item></channel></rss>"
    )
    external_dtd = (
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{dtd}">'
        '<rss version="2.0"><channel><title>A & B</title>'
        "<item><title>x &xxe;</title><link>https://evil.example/1</link></item></channel></rss>"
    )

    def parse(body: str):
        document = feeds.Document(body.encode(), "https://feed.example/", "application/rss+xml", None, None)
        return feeds.parse(document)

    with app.app_context():
        for body in (billion, external):
            with pytest.raises(feeds.FeedError, match=ENTITIES_REFUSED.replace("(", r"\(").replace(")", r"\)")):
                parse(body)
        parsed = parse(external_dtd)  # no declaration in the document: the tolerant parser reads it
        assert [entry.title for entry in parsed.data.entries] == ["x &xxe;"]
        assert parsed.warnings and "tolerant parser" in parsed.warnings[0]

        monkeypatch.setattr(feeds, "_declares_entities", lambda body: False)
        laughed = parse(billion)
        assert all(len(entry.title) < 20 for entry in laughed.data.entries)
        assert "lollol" not in str(laughed.data)
        fetched = parse(external)
        assert "root:" not in str(fetched.data)
    assert not any(request.path == "/evil.dtd" for request in http_server.requests)


def test_a_document_that_is_no_feed_even_to_the_tolerant_parser_is_still_refused(app, runner, http_server):
    url = http_server.serve("/feed", "<html><body>Wartungsarbeiten &amp; mehr</body></html>")
    result = import_feed(runner, url)
    assert result.exit_code == 1
    assert "the document is not an RSS or Atom feed" in result.output
    assert articles_of(app) == []


# --- dates ----------------------------------------------------------------------------------


def test_german_dates_and_zones_are_read_and_nothing_is_dated_in_the_future(
    app, runner, http_server, clock, admin_client
):
    # START is Monday 2 March 2026, 09:00 in Berlin (MEZ).
    items = [
        wp_item(1, "Deutscher Wochentag", pub_date="Mo, 02 Mär 2026 08:30:00 MEZ"),
        wp_item(2, "Deutsches Zahlenformat", pub_date="01.03.2026 12:00"),
        wp_item(3, "Sommerzeit auf Deutsch", pub_date="Mi, 25 Feb 2026 10:00:00 MESZ"),
        wp_item(4, "Sommerzeit auf Englisch", pub_date="Wed, 25 Feb 2026 10:00:00 CEST"),
        wp_item(5, "Monatsname ausgeschrieben", pub_date="Sonntag, 1. März 2026, 18:15 Uhr"),
        wp_item(6, "Aus der Zukunft", pub_date="Thu, 01 Jan 2099 00:00:00 GMT"),
        wp_item(7, "Ohne Datum"),
        wp_item(8, "Unlesbares Datum", pub_date="gestern Abend"),
        wp_item(9, "Englisch mit Versatz", pub_date="Sun, 01 Mar 2026 10:00:00 +0100"),
    ]
    url = http_server.serve("/feed/", wordpress(*items, before=""), headers=RSS_TYPE)
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "warning: 1 entry dated in the future: dated when first seen",
        "warning: 1 entry with a date not understood: dated when first seen",
        "warning: 1 entry without a date: dated when first seen",
    ]
    dates = {article.title: article.published_at for article in articles_of(app)}
    assert dates == {
        "Deutscher Wochentag": datetime(2026, 3, 2, 7, 30, tzinfo=UTC),
        "Deutsches Zahlenformat": datetime(2026, 3, 1, 11, 0, tzinfo=UTC),  # TIMEZONE: Berlin
        "Sommerzeit auf Deutsch": datetime(2026, 2, 25, 8, 0, tzinfo=UTC),
        "Sommerzeit auf Englisch": datetime(2026, 2, 25, 8, 0, tzinfo=UTC),
        "Monatsname ausgeschrieben": datetime(2026, 3, 1, 17, 15, tzinfo=UTC),
        "Aus der Zukunft": START,
        "Ohne Datum": START,
        "Unlesbares Datum": START,
        "Englisch mit Versatz": datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
    }
    assert "1 entry dated in the future" in feed_of(app, url).last_warnings
    german = admin_client.get("/admin/feeds", headers={"Accept-Language": "de"}).get_data(as_text=True)
    for words in ("1 Eintrag mit Datum in der Zukunft", "1 Eintrag mit unlesbarem Datum", "1 Eintrag ohne Datum"):
        assert f"{words}: datiert auf den ersten Abruf" in german

    clock.advance(days=1)  # seen again: an entry keeps the time it was first seen, and no warning repeats
    again = import_feed(runner, url)
    assert again.output == f"{url}: 0 new, 0 updated, 9 unchanged\n"
    assert {article.title: article.published_at for article in articles_of(app)} == dates
    assert feed_of(app, url).last_warnings is None


# --- encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "warning", "title"),
    [
        pytest.param(RUSSIAN.encode("koi8-r"), "text/xml", "declares no encoding; read as koi8-r (detected)",
                     "Привет, мир: новости дня", id="koi8-r-undeclared"),
        pytest.param(JAPANESE.encode("shift_jis"), "application/rss+xml",
                     "declares no encoding; read as cp932 (detected)", "こんにちは世界、今日のニュースです",
                     id="shift-jis-undeclared"),
        pytest.param(GERMAN.encode("utf-8"), "application/rss+xml", "declares iso8859-1 but is UTF-8; read as UTF-8",
                     "Größere Brötchen für alle", id="utf-8-declared-latin-1"),
        pytest.param(GERMAN.encode("utf-8"), "text/xml; charset=ISO-8859-1",
                     "declares iso8859-1 but is UTF-8; read as UTF-8", "Größere Brötchen für alle",
                     id="utf-8-served-as-latin-1"),
        pytest.param(GERMAN.encode("latin-1"), "application/rss+xml", None, "Größere Brötchen für alle",
                     id="latin-1-declared-right"),
        pytest.param(RUSSIAN.replace('?>', ' encoding="windows-1251"?>').encode("cp1251"), "text/xml", None,
                     "Привет, мир: новости дня", id="windows-1251-declared-in-xml-served-as-text-xml"),
    ],
)  # fmt: skip
def test_a_missing_or_wrong_encoding_declaration_is_detected(
    app, runner, http_server, admin_client, body, content_type, warning, title
):
    url = http_server.serve("/feed.xml", body, headers={"Content-Type": content_type})
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    about_encoding = [line for line in result.output.splitlines() if "encoding" in line or "UTF-8" in line]
    assert about_encoding == ([f"warning: the feed {warning}"] if warning else [])
    titles = [article.title for article in articles_of(app)]
    assert title in titles
    german = admin_client.get("/admin/feeds", headers={"Accept-Language": "de"}).get_data(as_text=True)
    said = {"koi8-r": "gibt keine Zeichenkodierung an: als koi8-r gelesen (erkannt)",
            "cp932": "gibt keine Zeichenkodierung an: als cp932 gelesen (erkannt)",
            "UTF-8": "gibt iso8859-1 an, ist aber UTF-8: als UTF-8 gelesen"}  # fmt: skip
    assert [words for key, words in said.items() if words in german] == (
        [said[next(key for key in said if key in warning)]] if warning else []
    )


# --- the backlog --------------------------------------------------------------------------


def test_on_a_feeds_first_import_entries_older_than_the_backlog_days_are_kept_but_never_mailed(
    app, runner, http_server, clock, config
):
    config["FEED_BACKLOG_DAYS"] = 7
    def rfc822(moment: datetime) -> str:
        return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")

    archive = [wp_item(n, f"Archiv {n}", pub_date=rfc822(START - timedelta(days=8 + n))) for n in range(1, 500)]
    recent = [wp_item(1000 + n, f"Neu {n}", pub_date=rfc822(START - timedelta(days=n))) for n in range(3)]
    url = http_server.serve("/feed/", wordpress(*recent, *archive, before=""), headers=RSS_TYPE)
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"{url}: 500 new, 0 updated, 0 unchanged, 2 skipped (2 beyond the first 500);"
        " 497 older than FEED_BACKLOG_DAYS kept as backlog (never mailed)"
    )
    kept = {article.title: article.kept_out for article in articles_of(app)}
    assert len(kept) == 500
    assert {title for title, why in kept.items() if why is None} == {"Neu 0", "Neu 1", "Neu 2"}
    assert {why for title, why in kept.items() if title.startswith("Archiv")} == {KeptOut.BACKLOG}

    digest = runner.invoke(args=["send-digest"])
    assert digest.exit_code == 0, digest.output
    assert digest.output.startswith("digest 1: 3 articles for 0 subscribers")

    # Later polls: an old entry appearing now is news (a post backdated by its author), not backlog.
    clock.advance(days=1)
    late = wp_item(2000, "Nachgetragen", pub_date=rfc822(START - timedelta(days=30)))
    http_server.serve("/feed/", wordpress(late, *recent, before=""), headers=RSS_TYPE)
    assert import_feed(runner, url).exit_code == 0
    assert {a.title: a.kept_out for a in articles_of(app)}["Nachgetragen"] is None

"""Feeds: RSS and Atom entries become articles once; broken or hostile feeds harm nothing.

Feeds are served by a real HTTP server on loopback; nothing here leaves the machine.
"""

from __future__ import annotations

import gzip
import logging
import socket
import ssl
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

import pytest
import trustme
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from newsletter import articles, create_app, feeds, scheduler, webclient
from newsletter.extensions import db
from newsletter.models import Article, ArticleSource, Feed
from newsletter.settings import ConfigError
from tests.support import services
from tests.support.clocks import START
from tests.support.httpserver import HTTPServer, PublicLooking, Resolver

RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}
ATOM_TYPE = {"Content-Type": "application/atom+xml; charset=utf-8"}


def rss(*items: str, title: str = "Beispiel Blog") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{title}</title><link>https://blog.example.org/</link><description>News</description>"
        + "".join(items)
        + "</channel></rss>"
    )


def item(
    guid: str | None = None,
    title: str | None = None,
    link: str | None = None,
    *,
    description: str | None = None,
    content: str | None = None,
    pub_date: str | None = None,
) -> str:
    parts = ["<item>"]
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if title is not None:
        parts.append(f"<title>{title}</title>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if description is not None:
        parts.append(f"<description><![CDATA[{description}]]></description>")
    if content is not None:
        parts.append(f"<content:encoded><![CDATA[{content}]]></content:encoded>")
    if pub_date is not None:
        parts.append(f"<pubDate>{pub_date}</pubDate>")
    parts.append("</item>")
    return "".join(parts)


FIRST = item(
    "https://blog.example.org/?p=1",
    "First post",
    "https://blog.example.org/first",
    description="<p>Hello <b>world</b> &amp; friends<script>alert(1)</script></p><p>Bye</p>",
    content='<p onclick="steal()">Body<script>alert(1)</script></p><img src="https://blog.example.org/a.png">',
    pub_date="Sun, 01 Mar 2026 10:00:00 +0100",
)
SECOND = item(
    "https://blog.example.org/?p=2",
    "Second post",
    "https://blog.example.org/second",
    pub_date="Mon, 02 Mar 2026 07:00:00 GMT",
)

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Blog</title><id>urn:uuid:8a0c7c52-feed</id><updated>2026-03-01T12:00:00Z</updated>
  <entry>
    <id>tag:atom.example.org,2026:1</id>
    <title type="html">Caf&amp;eacute; &amp;amp; Bar</title>
    <link rel="alternate" href="/posts/1"/>
    <published>2026-03-01T10:00:00+01:00</published><updated>2026-03-01T12:00:00+01:00</updated>
    <summary type="html">&lt;p&gt;Short &lt;em&gt;teaser&lt;/em&gt;&lt;/p&gt;</summary>
    <content type="html">&lt;p&gt;Long text&lt;iframe src="https://evil.example/"&gt;&lt;/iframe&gt;&lt;/p&gt;</content>
  </entry>
  <entry>
    <id>tag:atom.example.org,2026:2</id>
    <title type="text">No date &lt;here&gt;</title>
    <link href="https://atom.example.org/posts/2"/>
    <summary type="text">If a &lt; b then b &gt; a</summary>
  </entry>
</feed>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>https://evil.example/1</link></item></channel></rss>
"""

# One plain entity referenced many times: no nesting, still a blow-up (quadratic expansion).
QUADRATIC = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + "A" * 20_000 + '">]>'
    '<rss version="2.0"><channel><title>t</title><item><title>x</title>'
    "<link>https://evil.example/1</link><description>" + "&a;" * 2_000 + "</description></item></channel></rss>"
)

ENTITIES_REFUSED = "the document declares XML entities (refused: entity expansion attack)"
HTML_PAGE = "<!DOCTYPE html><html><head><title>Blog</title></head><body><p>Welcome<br></body></html>"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def all_articles(app) -> list[Article]:
    with app.app_context():
        return db.session.execute(select(Article).order_by(Article.published_at, Article.id)).scalars().all()


def feed_row(app, url: str) -> Feed | None:
    with app.app_context():
        return db.session.execute(select(Feed).filter_by(url=url)).scalar_one_or_none()


def import_feed(runner, url: str):
    return runner.invoke(args=["import-feed", url])


# --- importing --------------------------------------------------------------------------


def test_rss_items_become_articles_from_that_feed(app, runner, http_server):
    url = http_server.serve("/rss.xml", rss(FIRST, SECOND), headers=RSS_TYPE)
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert result.output == f"{url}: 2 new, 0 updated, 0 unchanged\n"
    first, second = all_articles(app)
    feed = feed_row(app, url)
    assert (first.title, first.url, first.guid) == ("First post", "https://blog.example.org/first", "https://blog.example.org/?p=1")
    assert first.published_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert second.title == "Second post" and second.published_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert {first.source, second.source} == {ArticleSource.FEED}
    assert first.feed_id == second.feed_id == feed.id
    assert (feed.title, feed.last_result, feed.last_polled_at, feed.last_ok_at) == ("Beispiel Blog", "ok", START, START)


def test_atom_entries_become_articles_with_links_resolved_against_the_feed(app, runner, http_server):
    url = http_server.serve("/atom.xml", ATOM, headers=ATOM_TYPE)
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert "2 new" in result.output
    dated, undated = all_articles(app)
    assert dated.title == "Café & Bar"
    assert dated.url == http_server.url("/posts/1")
    assert dated.guid == "tag:atom.example.org,2026:1"
    assert dated.published_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # published, not updated
    assert dated.summary == "Short teaser"
    assert "Long text" in dated.body_html and "<iframe" not in dated.body_html
    assert undated.title == "No date <here>"  # a text title is text, "<" included
    assert undated.summary == "If a < b then b > a"
    assert undated.published_at == START  # no date in the feed: the time it was first seen
    assert feed_row(app, url).title == "Atom Blog"


def test_summary_html_is_stripped_and_body_scripts_are_removed(app, runner, http_server):
    url = http_server.serve("/rss.xml", rss(FIRST), headers=RSS_TYPE)
    assert import_feed(runner, url).exit_code == 0
    (article,) = all_articles(app)
    assert article.summary == "Hello world & friends\n\nBye"
    assert "<script" not in article.body_html and "alert" not in article.body_html
    assert "onclick" not in article.body_html
    assert "<p>Body</p>" in article.body_html and 'src="https://blog.example.org/a.png"' in article.body_html


def test_importing_the_same_feed_again_creates_nothing_twice(app, runner, http_server, clock):
    url = http_server.serve("/atom.xml", ATOM, headers=ATOM_TYPE)
    import_feed(runner, url)
    before = [(a.id, a.published_at, a.updated_at) for a in all_articles(app)]
    clock.advance(hours=1)
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert result.output == f"{url}: 0 new, 0 updated, 2 unchanged\n"
    assert [(a.id, a.published_at, a.updated_at) for a in all_articles(app)] == before
    assert feed_row(app, url).last_ok_at == START + timedelta(hours=1)


def test_a_changed_entry_updates_its_article(app, runner, http_server, clock):
    url = http_server.serve("/rss.xml", rss(FIRST, SECOND), headers=RSS_TYPE)
    import_feed(runner, url)
    clock.advance(hours=1)
    http_server.serve(
        "/rss.xml",
        rss(FIRST.replace("First post", "First post (corrected)").replace("Bye", "See you"), SECOND),
        headers=RSS_TYPE,
    )
    result = import_feed(runner, url)
    assert result.output == f"{url}: 0 new, 1 updated, 1 unchanged\n"
    first, second = all_articles(app)
    assert first.title == "First post (corrected)" and first.summary.endswith("See you")
    assert first.updated_at == START + timedelta(hours=1)
    assert second.updated_at == START
    assert len(all_articles(app)) == 2


def test_entries_without_title_or_link_or_with_a_bad_link_are_skipped_and_counted(app, runner, http_server):
    url = http_server.serve(
        "/rss.xml",
        rss(
            item("a", None, "https://blog.example.org/untitled", description="no title"),
            item("b", "No link", None),
            item("c", "Script link", "javascript:alert(1)"),
            item("d", "   ", "https://blog.example.org/blank-title"),
            item("e", "Good", "https://blog.example.org/good"),
        ),
        headers=RSS_TYPE,
    )
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    first_line = result.output.splitlines()[0]
    assert first_line == f"{url}: 1 new, 0 updated, 0 unchanged, 4 skipped (1 invalid, 3 without title or link)"
    assert [a.title for a in all_articles(app)] == ["Good"]


def test_ids_without_a_scheme_are_only_unique_within_their_feed(app, runner, http_server):
    one = http_server.serve("/one.xml", rss(item("42", "Post of one", "https://one.example/42")), headers=RSS_TYPE)
    two = http_server.serve("/two.xml", rss(item("42", "Post of two", "https://two.example/42")), headers=RSS_TYPE)
    import_feed(runner, one)
    import_feed(runner, two)
    assert sorted((a.guid, a.title) for a in all_articles(app)) == [
        (f"{one}#42", "Post of one"),
        (f"{two}#42", "Post of two"),
    ]


def test_the_same_entry_in_two_feeds_is_one_article(app, runner, http_server):
    main = http_server.serve("/feed", rss(FIRST), headers=RSS_TYPE)
    category = http_server.serve("/category/news/feed", rss(FIRST), headers=RSS_TYPE)
    assert "1 new" in import_feed(runner, main).output
    assert "1 unchanged" in import_feed(runner, category).output
    (article,) = all_articles(app)
    assert article.feed_id == feed_row(app, main).id


def test_repeated_entries_and_entries_beyond_the_limit_are_skipped(app, runner, http_server, monkeypatch):
    monkeypatch.setattr(feeds, "MAX_ENTRIES", 3)
    entries = [item(f"urn:x:{n}", f"Post {n}", f"https://blog.example.org/{n}") for n in range(4)]
    url = http_server.serve("/rss.xml", rss(entries[0], entries[0], *entries[1:]), headers=RSS_TYPE)
    result = import_feed(runner, url)
    first_line = result.output.splitlines()[0]
    assert first_line.endswith("2 new, 0 updated, 0 unchanged, 3 skipped (2 beyond the first 3, 1 repeated)")
    assert sorted(a.title for a in all_articles(app)) == ["Post 0", "Post 1"]


def test_the_request_names_us_and_asks_for_a_feed(app, runner, http_server):
    url = http_server.serve("/rss.xml", rss(FIRST), headers=RSS_TYPE)
    import_feed(runner, url)
    (request,) = http_server.requests
    assert request.headers["User-Agent"] == feeds.USER_AGENT
    assert "application/rss+xml" in request.headers["Accept"]
    assert "If-None-Match" not in request.headers and "If-Modified-Since" not in request.headers


def test_a_gzipped_feed_is_read(app, runner, http_server):
    url = http_server.serve(
        "/rss.xml", gzip.compress(rss(FIRST).encode()), headers={**RSS_TYPE, "Content-Encoding": "gzip"}
    )
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert [a.title for a in all_articles(app)] == ["First post"]


# --- conditional GET ----------------------------------------------------------------------


def test_an_unchanged_feed_is_asked_for_with_its_validators_and_answers_304(app, runner, http_server, clock):
    modified = "Sun, 01 Mar 2026 10:00:00 GMT"
    url = http_server.serve("/rss.xml", rss(FIRST), headers=RSS_TYPE, etag='"v1"', last_modified=modified)
    assert import_feed(runner, url).exit_code == 0
    feed = feed_row(app, url)
    assert (feed.etag, feed.modified) == ('"v1"', modified)
    clock.advance(minutes=30)
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert result.output == f"{url}: not modified since the last import\n"
    second = http_server.requests[1]
    assert second.headers["If-None-Match"] == '"v1"'
    assert second.headers["If-Modified-Since"] == modified
    feed = feed_row(app, url)
    assert (feed.last_result, feed.last_ok_at) == ("ok", START + timedelta(minutes=30))
    assert len(all_articles(app)) == 1


def test_a_failed_poll_keeps_the_validators_and_articles_of_the_last_good_one(app, runner, http_server, clock):
    url = http_server.serve("/rss.xml", rss(FIRST), headers=RSS_TYPE, etag='"v1"')
    import_feed(runner, url)
    clock.advance(minutes=30)
    http_server.serve("/rss.xml", "oops", status=500)
    result = import_feed(runner, url)
    assert result.exit_code == 1
    feed = feed_row(app, url)
    assert feed.etag == '"v1"'
    assert feed.last_result == "the server answered HTTP 500 Internal Server Error"
    assert (feed.last_polled_at, feed.last_ok_at) == (START + timedelta(minutes=30), START)
    assert [a.title for a in all_articles(app)] == ["First post"]


# --- broken and hostile feeds -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "options", "message"),
    [
        pytest.param(BILLION_LAUGHS, {}, ENTITIES_REFUSED, id="billion-laughs"),
        pytest.param(QUADRATIC, {}, ENTITIES_REFUSED, id="quadratic-blowup"),
        pytest.param(
            BILLION_LAUGHS.replace('version="1.0"', 'version="1.0" encoding="utf-16"').encode("utf-16"),
            {}, ENTITIES_REFUSED, id="billion-laughs-utf16",
        ),
        pytest.param(
            HTML_PAGE, {"headers": {"Content-Type": "text/html; charset=utf-8"}},
            "the document is not an RSS or Atom feed (the server sent an HTML page)", id="html-page",
        ),
        pytest.param(b"", {}, "the document is not an RSS or Atom feed", id="empty"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + bytes(range(256)), {"headers": {"Content-Type": "image/png"}},
            "the document is not an RSS or Atom feed", id="binary",
        ),
        pytest.param(
            rss(FIRST), {"headers": {**RSS_TYPE, "Content-Length": "9999"}}, "the download was cut short",
            id="cut-short",
        ),
        pytest.param("Not Found", {"status": 404}, "the server answered HTTP 404 Not Found", id="404"),
        pytest.param("Boom", {"status": 500}, "the server answered HTTP 500 Internal Server Error", id="500"),
        pytest.param(
            b"", {"status": 302, "headers": {"Location": "file:///etc/passwd"}},
            "the server redirected to a non-web address: file:///etc/passwd", id="redirect-to-file",
        ),
        pytest.param(
            b"", {"status": 301, "headers": {"Location": "ftp://127.0.0.1/feed.xml"}},
            "the server redirected to a non-web address: ftp://127.0.0.1/feed.xml", id="redirect-to-ftp",
        ),
        pytest.param(
            b"\x1f\x8b not gzip at all", {"headers": {"Content-Encoding": "gzip"}},
            "the compressed feed is corrupt", id="corrupt-gzip",
        ),
        pytest.param(
            rss(FIRST), {"headers": {"Content-Encoding": "br"}}, "the server used an unsupported Content-Encoding: br",
            id="brotli",
        ),
    ],
)
def test_a_broken_or_hostile_feed_is_reported_and_imports_nothing(app, runner, http_server, body, options, message):
    url = http_server.serve("/feed", body, **options)
    result = import_feed(runner, url)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot import {url}: {message}")
    assert "Traceback" not in result.output
    assert all_articles(app) == []
    feed = feed_row(app, url)
    assert message in feed.last_result
    assert (feed.last_polled_at, feed.last_ok_at, feed.etag) == (START, None, None)


def test_a_feed_larger_than_the_limit_is_refused_before_it_is_read_whole(app, runner, http_server):
    huge = rss(FIRST).replace("</channel>", "<!--" + "x" * (5 * 1024 * 1024) + "--></channel>")
    url = http_server.serve("/huge.xml", huge, headers=RSS_TYPE)
    result = import_feed(runner, url)
    assert result.exit_code == 1
    assert "the feed is larger than 5 MiB" in result.output
    assert all_articles(app) == []


@pytest.fixture
def small_limit(config) -> dict:
    config.update(FEED_MAX_BYTES=2000)
    return config


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "until-close"])
def test_the_size_limit_holds_whether_or_not_the_server_announces_the_size(
    small_limit, app, runner, http_server, send_length
):
    fits = rss(FIRST)
    assert len(fits.encode()) <= 2000
    http_server.serve("/fits.xml", fits, headers=RSS_TYPE, send_length=send_length)
    too_big = fits.replace("</channel>", "<!--" + "x" * (2001 - len(fits.encode())) + "--></channel>")
    http_server.serve("/big.xml", too_big, headers=RSS_TYPE, send_length=send_length)
    assert import_feed(runner, http_server.url("/fits.xml")).exit_code == 0
    result = import_feed(runner, http_server.url("/big.xml"))
    assert result.exit_code == 1 and "the feed is larger than 2000 bytes" in result.output


def test_a_gzip_bomb_is_refused(config, app, runner, http_server):
    bomb = gzip.compress(rss(FIRST).encode() + b" " * 60_000_000)
    assert len(bomb) < 100_000
    url = http_server.serve("/bomb.xml", bomb, headers={**RSS_TYPE, "Content-Encoding": "gzip"})
    result = import_feed(runner, url)
    assert result.exit_code == 1
    assert "the feed is larger than 5 MiB uncompressed" in result.output


def test_an_unreachable_server_is_reported(app, runner, closed_port):
    url = f"http://127.0.0.1:{closed_port}/feed.xml"
    result = import_feed(runner, url)
    assert result.exit_code == 1
    assert result.output == f"Error: cannot import {url}: cannot connect: connection refused\n"
    assert feed_row(app, url).last_result == "cannot connect: connection refused"


@pytest.fixture
def short_timeout(config) -> dict:
    config.update(FEED_TIMEOUT_SECONDS=0.2)
    return config


def test_a_server_that_never_answers_is_given_up_on(short_timeout, app, runner, http_server):
    url = http_server.serve("/slow.xml", hang=True)
    result = import_feed(runner, url)
    assert result.exit_code == 1
    assert "no answer within 0.2 seconds" in result.output
    assert feed_row(app, url).last_result == "no answer within 0.2 seconds"


@pytest.mark.parametrize("trickle_headers", [False, True], ids=["body", "headers-and-body"])
def test_a_server_that_trickles_is_cut_off_after_twice_the_timeout(
    short_timeout, app, runner, http_server, trickle_headers
):
    # A byte every 0.05 s never lets one read wait 0.2 s; the whole answer would take over 2 s.
    url = http_server.serve("/trickle.xml", b"x" * 40, trickle=0.05, trickle_headers=trickle_headers)
    result = import_feed(runner, url)
    (request,) = http_server.requests
    assert not request.answered  # we hung up long before the end
    assert result.exit_code == 1
    assert result.output == f"Error: cannot import {url}: the download took longer than 0.4 seconds\n"


@pytest.mark.parametrize(
    "url", ["ftp://example.org/feed.xml", "file:///etc/passwd", "feed.xml", "javascript:alert(1)"]
)
def test_only_http_and_https_feeds_are_fetched(app, runner, url):
    result = import_feed(runner, url)
    assert result.exit_code == 1
    assert f"cannot import {url}: not a feed address: the URL must start with http:// or https://" in result.output
    assert "Traceback" not in result.output
    assert feed_row(app, url) is None  # nothing was polled, so nothing is listed


# --- where feeds may be fetched from -----------------------------------------------------


@pytest.fixture
def private_networks_refused(config) -> dict:
    """FEED_ALLOW_PRIVATE_NETWORKS as installed (off); the tests' config turns it on."""
    del config["FEED_ALLOW_PRIVATE_NETWORKS"]
    return config


@pytest.fixture
def dns(monkeypatch) -> Resolver:
    """The fetcher's resolver, answering the names a test gives it (``dns.answer(…)``)."""
    resolver = Resolver(webclient.resolve)
    monkeypatch.setattr(webclient, "resolve", resolver)
    return resolver


@pytest.fixture
def ipv6_server() -> HTTPServer:
    try:
        server = HTTPServer("::1")
    except OSError:
        services.require(False, "IPv6 on loopback (::1)")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tls_server(tmp_path, monkeypatch) -> HTTPServer:
    """An https server on loopback with a certificate for feeds.example, from a CA the fetcher
    trusts (through SSL_CERT_FILE, read whenever a connection opens)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("feeds.example").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "feeds-ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "feeds-ca.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    server = HTTPServer(tls=context)
    server.start()
    yield server
    server.stop()


def refused(where: str) -> str:
    return f"refused to connect to {where} (FEED_ALLOW_PRIVATE_NETWORKS is off)"


@pytest.mark.parametrize(
    ("host", "where", "ours"),
    [
        pytest.param("127.0.0.1", "127.0.0.1: a loopback address", True, id="loopback"),
        pytest.param("2130706433", "2130706433 at 127.0.0.1: a loopback address", True, id="decimal-loopback"),
        pytest.param("[::1]", "::1: a loopback address", True, id="ipv6-loopback"),
        pytest.param("0.0.0.0", "0.0.0.0: the unspecified address", True, id="unspecified"),
        pytest.param("169.254.169.254", "169.254.169.254: a link-local address", False, id="cloud-metadata"),
        pytest.param("10.1.2.3", "10.1.2.3: a private address", False, id="private"),
        pytest.param("[fd00::1]", "fd00::1: a private address", False, id="ipv6-unique-local"),
        pytest.param("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 at 127.0.0.1: a loopback address", False, id="mapped"),
        pytest.param("224.0.0.1", "224.0.0.1: a multicast address", False, id="multicast"),
        pytest.param("240.0.0.1", "240.0.0.1: a reserved address", False, id="reserved"),
        pytest.param("100.64.0.1", "100.64.0.1: an address not reachable from the internet", False, id="shared"),
    ],
)
def test_feeds_on_loopback_private_or_link_local_addresses_are_refused_unless_allowed(
    private_networks_refused, app, runner, request, host, where, ours
):
    server = request.getfixturevalue("ipv6_server" if host == "[::1]" else "http_server")
    server.serve("/feed.xml", rss(FIRST), headers=RSS_TYPE)
    url = server.url("/feed.xml", host=host)
    result = import_feed(runner, url)
    assert result.output == f"Error: cannot import {url}: {refused(where)}\n"
    assert feed_row(app, url).last_result == refused(where)
    assert server.requests == []
    if not ours:
        return  # nothing of ours listens there, and no test leaves the machine
    app.config["FEED_ALLOW_PRIVATE_NETWORKS"] = True
    result = import_feed(runner, url)
    assert result.exit_code == 0, result.output
    assert [a.title for a in all_articles(app)] == ["First post"]


def test_every_address_of_a_host_is_checked_and_so_is_every_redirect(
    private_networks_refused, app, runner, http_server, dns
):
    dns.answer("feeds.example", [PublicLooking("127.0.0.1")])
    internal = http_server.serve("/internal-admin?action=delete", "deleted")
    http_server.serve("/feed.xml", status=302, headers={"Location": internal})
    result = import_feed(runner, http_server.url("/feed.xml", host="feeds.example"))
    assert result.exit_code == 1
    assert result.output.endswith(f": {refused('127.0.0.1: a loopback address')}\n")
    assert [request.path for request in http_server.requests] == ["/feed.xml"]

    dns.answer("mixed.example", [PublicLooking("127.0.0.1"), IPv4Address("10.0.0.7")])
    result = import_feed(runner, http_server.url("/feed.xml", host="mixed.example"))
    assert result.output.endswith(f": {refused('mixed.example at 10.0.0.7: a private address')}\n")
    assert len(http_server.requests) == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_connection_goes_to_the_checked_address_under_the_hosts_name(
    private_networks_refused, app, runner, dns, request, scheme
):
    server = request.getfixturevalue("tls_server" if scheme == "https" else "http_server")
    server.serve("/feed.xml", rss(FIRST), headers=RSS_TYPE)
    # Public when checked, loopback for every later lookup (DNS rebinding); nothing listens on
    # 127.0.0.2, so a connection that looked the name up again would fail.
    dns.answer("feeds.example", [PublicLooking("127.0.0.1")], [IPv4Address("127.0.0.2")])
    result = import_feed(runner, server.url("/feed.xml", host="feeds.example"))
    assert result.exit_code == 0, result.output
    assert dns.lookups == ["feeds.example"]
    (seen,) = server.requests
    assert seen.headers["Host"] == f"feeds.example:{server.port}"  # and TLS checked that name
    assert [a.title for a in all_articles(app)] == ["First post"]


def test_an_https_feed_must_show_a_certificate_for_its_host_name(
    private_networks_refused, app, runner, dns, tls_server
):
    tls_server.serve("/feed.xml", rss(FIRST), headers=RSS_TYPE)
    dns.answer("other.example", [PublicLooking("127.0.0.1")])
    result = import_feed(runner, tls_server.url("/feed.xml", host="other.example"))
    assert result.exit_code == 1
    assert "certificate is not valid for 'other.example'" in result.output
    assert tls_server.requests == []


# --- the polling job ----------------------------------------------------------------------


@pytest.fixture
def feed_urls(config, http_server) -> list[str]:
    """Three configured feeds, the middle one broken."""
    urls = [
        http_server.serve("/one.xml", rss(FIRST), headers=RSS_TYPE),
        http_server.serve("/broken.xml", HTML_PAGE, headers={"Content-Type": "text/html"}),
        http_server.serve("/two.xml", ATOM, headers=ATOM_TYPE),
    ]
    config.update(FEED_URLS=urls, FEED_POLL_MINUTES=15)
    return urls


def registered_jobs(app) -> dict:
    background = BackgroundScheduler()
    scheduler.add_jobs(app, background)
    return {job.id: job for job in background.get_jobs()}


def test_the_poll_job_runs_every_feed_poll_minutes_when_feeds_are_configured(feed_urls, app):
    job = registered_jobs(app)["poll-feeds"]
    assert job.trigger.interval == timedelta(minutes=15)
    assert job.coalesce is True and job.max_instances == 1


def test_the_poll_job_runs_without_feed_urls_too(app):
    # Feeds an admin adds are polled without a restart (issue 19); with none it does nothing.
    jobs = registered_jobs(app)
    assert "poll-feeds" in jobs
    assert jobs["poll-feeds-now"].trigger.interval.total_seconds() == app.config["SEND_INTERVAL_SECONDS"]


def test_the_poll_job_imports_every_feed_and_a_broken_one_harms_no_other(feed_urls, app, caplog):
    one, broken, two = feed_urls
    job = registered_jobs(app)["poll-feeds"]
    with caplog.at_level(logging.INFO, logger="newsletter.feeds"):
        job.func()
    assert sorted(a.title for a in all_articles(app)) == ["Café & Bar", "First post", "No date <here>"]
    assert feed_row(app, one).last_result == feed_row(app, two).last_result == "ok"
    assert feed_row(app, broken).last_result == "the document is not an RSS or Atom feed (the server sent an HTML page)"
    assert feed_row(app, broken).last_ok_at is None
    assert f"feed {broken!r}: the document is not an RSS or Atom feed" in caplog.text


def test_a_feed_that_fails_halfway_leaves_nothing_half_written(feed_urls, app, monkeypatch, caplog):
    one, _broken, two = feed_urls
    save_article = articles.save_article

    def fail_on_the_second_atom_entry(**fields):
        if fields["guid"] == "tag:atom.example.org,2026:2":
            raise RuntimeError("database went away")
        return save_article(**fields)

    monkeypatch.setattr(articles, "save_article", fail_on_the_second_atom_entry)
    with caplog.at_level(logging.ERROR, logger="newsletter.scheduler"):
        registered_jobs(app)["poll-feeds"].func()
    assert [a.title for a in all_articles(app)] == ["First post"]  # nothing of the Atom feed
    assert feed_row(app, one).last_result == "ok"
    assert feed_row(app, two).last_result == "internal error while importing (see the worker log)"
    assert f"polling feed {two!r} failed" in caplog.text and "database went away" in caplog.text


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"FEED_POLL_MINUTES": 0}, "FEED_POLL_MINUTES must be greater than 0"),
        ({"FEED_TIMEOUT_SECONDS": "10"}, "FEED_TIMEOUT_SECONDS must be int or float"),
        ({"FEED_MAX_BYTES": 1.5}, "FEED_MAX_BYTES must be int"),
        ({"FEED_ALLOW_PRIVATE_NETWORKS": "true"}, "FEED_ALLOW_PRIVATE_NETWORKS must be bool"),
        ({"FEED_URLS": ["https://example.org/feed", 3]}, "FEED_URLS must list http:// or https:// addresses, got 3"),
        ({"FEED_URLS": ["file:///etc/passwd"]}, "FEED_URLS must list http:// or https:// addresses"),
    ],
)
def test_unusable_feed_settings_are_refused(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"TESTING": True, **overrides}, instance_path=str(tmp_path))

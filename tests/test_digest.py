"""The digest: every new article, once, to every confirmed subscriber, over real SMTP (SPEC §5–6).

Also COMPLIANCE items 18–21, 30, 32, 35 and 51–53: the footer, the list headers, and who may
receive it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import event, func, select

from newsletter import digest, subscribers, tokens
from newsletter.delivery import outcomes, queue, sender
from newsletter.extensions import db
from newsletter.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestTrigger,
    MailKind,
    Subscriber,
    SubscriberStatus,
)
from tests.support import locks
from tests.support.factories import add_article, add_subscriber
from tests.support.flows import drain

BASE = "https://news.example.org"
ADDRESS = "Musterstraße 1, 10115 Berlin"


@pytest.fixture(autouse=True)
def site_address(config):
    config["SITE_ADDRESS"] = ADDRESS


@pytest.fixture
def everyone(smtp_app):
    """Two confirmed subscribers (de, en) and one in each status that must get nothing."""
    with smtp_app.app_context():
        add_subscriber("de@example.org", locale="de")
        add_subscriber("en@example.org", locale="en")
        add_subscriber("pending@example.org", SubscriberStatus.PENDING)
        add_subscriber("withdrawn@example.org", SubscriberStatus.WITHDRAWN)
        add_subscriber("suspended@example.org", SubscriberStatus.SUSPENDED)
        add_subscriber(None, SubscriberStatus.ERASED)
        db.session.commit()


@pytest.fixture
def news(smtp_app):
    """Two new articles: (title, url, summary) each."""
    items = [
        (
            "Neue Preise ab April",
            "https://shop.example.org/news/prices",
            "Was sich ändert.\n\nUnd was nicht.",
        ),
        ("Quartalszahlen", "https://shop.example.org/news/q1", None),
    ]
    with smtp_app.app_context():
        for title, url, summary in items:
            add_article(title, url=url, summary=summary)
        db.session.commit()
    return items


def send_digest(runner) -> str:
    result = runner.invoke(args=["send-digest"])
    assert result.exit_code == 0, result.output
    return result.output


def bodies(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def to(message) -> str:
    return str(message["To"])


def start_tags(html: str) -> set[str]:
    """The element names an HTML parser (a mail client) finds in ``html``."""
    found: set[str] = set()

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs) -> None:
            found.add(tag)

    Collector().feed(html)
    return found


def test_send_digest_reaches_each_confirmed_subscriber_exactly_once(
    everyone, news, runner, smtp_server, smtp_app
):
    output = send_digest(runner)
    assert "digest 1: 2 articles for 2 subscribers" in output
    assert "queued 2, sent 2, failed 0" in output
    assert sorted(to(m) for m in smtp_server.messages) == ["de@example.org", "en@example.org"]
    with smtp_app.app_context():
        (issue,) = db.session.execute(select(Digest)).scalars().all()
        assert issue.trigger is DigestTrigger.COMMAND and issue.recipient_count == 2
        statuses = db.session.execute(
            select(Delivery.status).where(Delivery.digest_id == issue.id)
        ).scalars()
        assert sorted(statuses) == [DeliveryStatus.SENT, DeliveryStatus.SENT]
        assert (
            db.session.execute(select(func.count()).where(Article.digest_id.is_(None))).scalar_one()
            == 0
        )

    # Running it again finds nothing new and sends nothing (no article goes out twice).
    assert send_digest(runner).strip() == "nothing new"
    assert len(smtp_server.messages) == 2


def test_nothing_new_sends_nothing_and_exits_0(everyone, runner, smtp_server, smtp_app):
    assert send_digest(runner).strip() == "nothing new"
    assert smtp_server.messages == []
    with smtp_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Digest)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(Delivery)).scalar_one() == 0


def test_articles_added_later_go_into_the_next_digest_only(
    everyone, news, runner, smtp_server, smtp_app
):
    send_digest(runner)
    with smtp_app.app_context():
        add_article("Nachtrag", url="https://shop.example.org/news/late")
        db.session.commit()
    assert "digest 2: 1 article for 2 subscribers" in send_digest(runner)
    later = [m for m in smtp_server.messages[2:]]
    assert len(later) == 2
    for message in later:
        text, html = bodies(message)
        assert "https://shop.example.org/news/late" in text
        assert "https://shop.example.org/news/prices" not in text and "news/prices" not in html


def test_digest_mail_has_every_article_the_footer_and_the_list_headers(
    everyone, news, runner, smtp_server, smtp_app, client
):
    send_digest(runner)
    (message,) = smtp_server.handler.to("en@example.org")
    (raw,) = [r for r in smtp_server.handler.raw if b"To: en@example.org" in r]
    with smtp_app.app_context():
        subscriber = subscribers.find_by_email("en@example.org")
        unsubscribe_url = f"{BASE}/unsubscribe/{tokens.make_unsubscribe_token(subscriber)}"

    # SPEC §6: the usual headers, UTF-8, multipart/alternative.
    for header in ("From", "To", "Date", "Message-ID", "Subject"):
        assert message[header], header
    assert message["From"] == "Beispiel Verlag <news@example.org>"
    assert message["Subject"] == "Beispiel Verlag: Quartalszahlen and 1 more"  # the lead article names it
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content_charset() == "utf-8"
    assert message.get_body(("html",)).get_content_charset() == "utf-8"

    # RFC 2369 / 8058 / 2919, each on one line exactly as receivers parse it (no RFC 2047 words).
    assert message["List-Unsubscribe"] == f"<{unsubscribe_url}>"
    assert f"\r\nList-Unsubscribe: <{unsubscribe_url}>\r\n".encode() in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert b'\r\nList-Id: "Beispiel Verlag Newsletter" <newsletter.news.example.org>\r\n' in raw

    text, html = bodies(message)
    for title, url, _summary in news:
        assert title in text and title in html
        assert url in text and f'href="{url}"' in html
    for paragraph in ("Was sich ändert.", "Und was nicht."):
        assert paragraph in text and f">{paragraph}</p>" in html
    assert (
        text.index("Neue Preise ab April")
        < text.index("Was sich ändert.")
        < text.index("news/prices")
    )

    # The footer: why (subscribed and confirmed on a date), who sends it, how to leave.
    preferences_url = re.search(rf"{BASE}/preferences/\S+", text).group(0)
    for body in (" ".join(text.split()), " ".join(html.split())):
        assert "en@example.org" in body
        assert "confirmed your subscription on March 2, 2026" in body
        assert "object to the use of your address for advertising" in body
        assert "Beispiel Verlag" in body and ADDRESS in body
    assert f"Unsubscribe: {unsubscribe_url}" in text
    assert f'href="{unsubscribe_url}"' in html and f'href="{preferences_url}"' in html
    assert 'style="' in html  # CSS inlined for mail clients
    assert all(href.startswith("https://") for href in re.findall(r'href="([^"]*)"', html))

    # Both links from the mail work.
    assert client.get(unsubscribe_url.removeprefix(BASE)).status_code == 200
    page = client.get(preferences_url.removeprefix(BASE))
    assert page.status_code == 200 and "en@example.org" in page.get_data(as_text=True)


def test_each_reader_gets_the_digest_in_their_language(everyone, news, runner, smtp_server):
    send_digest(runner)
    (german,) = smtp_server.handler.to("de@example.org")
    (english,) = smtp_server.handler.to("en@example.org")
    assert german["Subject"].startswith("Beispiel Verlag: ") and german["Subject"].endswith(" und 1 weiterer Artikel")
    assert english["Subject"].startswith("Beispiel Verlag: ") and english["Subject"].endswith(" and 1 more")
    assert 'lang="de"' in bodies(german)[1] and "Montag, 2. März 2026" in bodies(german)[0]
    assert 'lang="en"' in bodies(english)[1] and "Monday, March 2, 2026" in bodies(english)[0]
    # Each its own unsubscribe link.
    assert german["List-Unsubscribe"] != english["List-Unsubscribe"]


def test_the_date_is_the_day_in_the_configured_time_zone(
    everyone, runner, smtp_server, smtp_app, clock
):
    from datetime import UTC, datetime

    clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))  # already 3 March in Berlin
    with smtp_app.app_context():
        add_article("Spät", url="https://shop.example.org/late")
        db.session.commit()
    send_digest(runner)
    (english,) = smtp_server.handler.to("en@example.org")
    assert "Tuesday, March 3, 2026" in bodies(english)[0]


def test_titles_summaries_and_links_are_never_trusted(everyone, runner, smtp_server, smtp_app):
    with smtp_app.app_context():
        add_article(
            '<script>alert("x")</script> Tom & Jerry',
            url="https://shop.example.org/a?x=1&y=2",
            summary='<img src=x onerror=alert(1)> "quoted"',
        )
        add_article("Bad link", url="javascript:alert(1)")
        db.session.commit()
    send_digest(runner)
    (message,) = smtp_server.handler.to("en@example.org")
    text, html = bodies(message)
    assert {"script", "img"}.isdisjoint(start_tags(html))
    assert '&lt;script&gt;alert("x")&lt;/script&gt; Tom &amp; Jerry' in html
    assert '&lt;img src=x onerror=alert(1)&gt; "quoted"' in html
    assert 'href="https://shop.example.org/a?x=1&amp;y=2"' in html
    assert "javascript:" not in html and "javascript:" not in text  # shown, but never as a link
    assert "Bad link" in html and "Bad link" in text
    assert '<script>alert("x")</script> Tom & Jerry' in text  # plain text stays plain


def test_a_permanent_failure_is_reported_and_the_rest_goes_out(everyone, news, runner, smtp_server):
    smtp_server.handler.rcpt_replies["de@example.org"] = "550 5.1.1 no such user"
    output = send_digest(runner)
    assert "queued 2, sent 1, failed 1" in output
    assert [to(m) for m in smtp_server.messages] == ["en@example.org"]


def test_relay_down_ends_the_command_and_leaves_the_mails_to_the_worker(
    everyone, news, runner, smtp_server, smtp_app, clock
):
    smtp_server.stop()
    result = runner.invoke(args=["send-digest"])
    assert result.exit_code == 0, result.output
    assert "queued 2, sent 0, failed 0, retrying 2" in result.output
    assert "the worker (flask worker) retries" in result.output
    smtp_server.start()
    clock.advance(seconds=outcomes.BACKOFF_SECONDS[0])
    assert drain(smtp_app).sent == 2
    assert sorted(to(m) for m in smtp_server.messages) == ["de@example.org", "en@example.org"]


def test_fan_out_is_one_insert_select_for_the_confirmed_subscribers_only(app):
    with app.app_context():
        for number in range(40):
            add_subscriber(f"reader{number}@example.org")
        add_subscriber("pending@example.org", SubscriberStatus.PENDING)
        add_subscriber(None, SubscriberStatus.ERASED)
        add_subscriber("gone@example.org", SubscriberStatus.WITHDRAWN)
        add_article("Eins")
        db.session.commit()
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args) -> None:
            statements.append(" ".join(statement.split()).upper())

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            issue = digest.build_digest(DigestTrigger.COMMAND)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        db.session.commit()
        assert issue.recipient_count == 40
        inserts = [s for s in statements if s.startswith("INSERT INTO DELIVERY")]
        assert len(inserts) == 1 and "SELECT" in inserts[0]
        # A handful (the digest.sent webhook event one more), not one per subscriber; and the
        # statistics refreshed for the sender's claims (tests/test_claim_plan.py).
        assert len([s for s in statements if not s.startswith("ANALYZE")]) < 13
        rows = (
            db.session.execute(select(Delivery).where(Delivery.digest_id == issue.id))
            .scalars()
            .all()
        )
        recipients = db.session.execute(
            select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
        ).scalars().all()
    assert len(rows) == 40
    assert sorted(recipients) == sorted(f"reader{number}@example.org" for number in range(40))
    assert {row.kind for row in rows} == {MailKind.DIGEST}
    assert {row.status for row in rows} == {DeliveryStatus.QUEUED}
    assert all(
        row.context == {} and row.attempts == 0 and row.next_attempt_at == row.created_at
        for row in rows
    )


def test_a_sender_claims_at_most_its_batch_of_a_big_digest(app):
    """Otherwise leases run out while the batch is still being sent, and mails go out twice."""
    with app.app_context():
        for number in range(30):
            add_subscriber(f"reader{number}@example.org")
        add_article()
        db.session.commit()
        digest.build_digest(DigestTrigger.COMMAND)
        db.session.commit()
        first, second = queue.claim(limit=10), queue.claim(limit=10)
        assert len(first) == 10 and len(second) == 10 and not set(first) & set(second)
        assert first == sorted(first) and max(first) < min(second)


def test_two_builds_racing_put_each_article_into_one_digest(app):
    """An article is claimed by one conditional UPDATE: the slower build finds nothing left."""
    with app.app_context():
        add_subscriber("ann@example.org")
        for number in range(3):
            add_article(f"Artikel {number}")
        db.session.commit()

    def build() -> int | None:
        issue = digest.build_digest(DigestTrigger.SCHEDULE)
        return issue.id if issue else None

    # The second build waits for the first one's claim, then finds nothing left.
    assert locks.second_waits_for_first(app, build, build) == (1, None)
    with app.app_context():
        assert set(db.session.execute(select(Article.digest_id)).scalars()) == {1}
        assert db.session.execute(select(func.count()).select_from(Digest)).scalar_one() == 1
        assert db.session.execute(select(func.count()).select_from(Delivery)).scalar_one() == 1


def test_a_test_send_previews_the_next_digest_to_one_address(everyone, news, smtp_app, smtp_server):
    with smtp_app.app_context():
        delivery = digest.queue_test(" Admin@Example.org ", "en")
        db.session.commit()
        assert delivery.subscriber_id is None and delivery.kind is MailKind.DIGEST_TEST
        assert sender.drain().sent == 1
        # A preview consumes nothing: the articles still wait for the real digest.
        assert (
            db.session.execute(select(func.count()).where(Article.digest_id.is_(None))).scalar_one()
            == 2
        )
        with pytest.raises(ValueError):
            digest.queue_test("not an address\r\nBcc: x@example.org")
    (message,) = smtp_server.messages
    assert to(message) == "admin@example.org"
    assert message["Subject"] == "[Test] Beispiel Verlag: Quartalszahlen and 1 more"
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    text, html = bodies(message)
    for title, url, _summary in news:
        assert title in text and f'href="{url}"' in html
    assert "/unsubscribe/" not in text and "/preferences/" not in html


def test_a_test_send_without_news_says_so(smtp_app, smtp_server):
    with smtp_app.app_context():
        digest.queue_test("admin@example.org", "en")
        db.session.commit()
    drain(smtp_app)
    (message,) = smtp_server.messages
    assert "There are no new articles yet." in bodies(message)[0]

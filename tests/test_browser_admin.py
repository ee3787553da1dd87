"""The admin area end to end in real headless Chromium, over real HTTP and real SMTP (SPEC §4).

An admin signs in, looks at every area, previews the next digest, sends a test, presses
Send now, confirms, and watches the progress reach done while the sender runs; the
subscriber's digest arrives at the loopback SMTP server. Screenshots of every admin page go
to test-artifacts/screenshots/admin-*.png (gitignored) for a reviewer's eyes.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from newsletter import consent, subscribers
from newsletter.delivery import sender
from newsletter.extensions import db
from newsletter.models import ConsentChannel, Digest, Feed
from tests.support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.support.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, shoot_whole_page
from tests.support.clocks import START
from tests.support.factories import add_article

pytestmark = pytest.mark.browser

READER = "leser@example.org"
TITLES = ("Neue Preise ab April: was sich für Sie ändert", "Sonderangebot: Versandkostenfrei bis Sonntag")


#: Readers who signed up (and some of whom left again) over the last weeks, for the chart.
HISTORY = [(f"leser{number}@example.org", 27 - 3 * number, number % 3 == 0) for number in range(9)]
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/120.0 Safari/537.36"
)


def _sign_up(email: str, ip: str) -> None:
    """The double opt-in as the public pages do it: request, then confirm, with evidence."""
    text = consent.text_version("de")
    subscribers.request_subscription(email, text=text, locale="de", ip=ip, user_agent=BROWSER)
    subscribers.confirm(subscribers.find_by_email(email), ip=ip, user_agent=BROWSER)


@pytest.fixture
def newsroom(app, clock):
    """An admin; readers who signed up over the last weeks (some left again) with their
    evidence; two articles for the next digest."""
    create_admin(app)
    with app.app_context():
        for email, days_ago, leaves in HISTORY:
            clock.set(START - timedelta(days=days_ago, hours=2))
            _sign_up(email, "198.51.100.23")
            if leaves:
                clock.advance(days=2)
                subscribers.withdraw(subscribers.find_by_email(email), ConsentChannel.LINK)
        clock.set(START - timedelta(hours=1))
        _sign_up(READER, "203.0.113.7")
        clock.set(START)
        for index, title in enumerate(TITLES):
            add_article(
                title, url=f"https://shop.example.org/news/{index}", summary="Alle Einzelheiten im Artikel."
            )
        _feeds(clock)
        db.session.commit()


def _feeds(clock) -> None:
    """Feed sources as the admin sees them: one read with warnings, one failing, one just added."""
    db.session.add_all([
        Feed(
            url="https://shop.example.org/blog/feed.xml", title="Beispiel Verlag – Blog", added_at=clock.now(),
            last_polled_at=clock.now(), last_ok_at=clock.now(), last_result="ok",
            last_warnings="the feed is not well-formed XML: undefined entity (line 12, column 40); read by the"
            " tolerant parser\n2 entries without a date: dated when first seen",
        ),
        Feed(
            url="https://presse.example.org/rss/neuigkeiten-und-pressemitteilungen-des-verlags.xml",
            added_at=clock.now(), last_polled_at=clock.now(),
            last_result="the server answered HTTP 503 Service Unavailable",
        ),
        Feed(url="https://magazin.example.org/atom", added_at=clock.now(), poll_requested_at=clock.now()),
    ])


#: Everyone who gets the digest.
CONFIRMED = 1 + sum(1 for _email, _days, leaves in HISTORY if not leaves)


def shoot(page, name: str) -> None:
    shoot_whole_page(page, f"admin-{name}")


def sign_in(
    page, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, *, labels=("Email address", "Password")
):
    page.get_by_label(labels[0]).fill(email)
    page.get_by_label(labels[1]).fill(password)
    page.locator("form button[type=submit]").click()


def test_admin_previews_tests_and_sends_the_digest_and_watches_it_go_out(
    smtp_config, app, newsroom, live_server, open_page, smtp_server
):
    from playwright.sync_api import expect

    page = open_page("en-US")

    # Signed out, an admin page leads to the login, which leads back to it.
    page.goto("/admin/digests")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/digests$"))
    shoot(page, "login")
    sign_in(page, password="not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("The email address or the password is wrong.")
    sign_in(page)
    expect(page).to_have_url(re.compile(r"/admin/digests$"))

    # The dashboard.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".stat-confirmed .stat-number")).to_have_text(str(CONFIRMED))
    # sign-ups, withdrawals, and (apart, issue 19) imports
    expect(page.locator(".legend strong")).to_have_text([str(len(HISTORY) + 1), "3", "0"])
    expect(page.locator(".chart svg g")).to_have_count(30)
    shoot(page, "dashboard")

    # Subscribers: the list, a search, one subscriber.
    page.get_by_role("link", name="Subscribers").first.click()
    expect(page.locator("table.subscribers tbody tr")).to_have_count(len(HISTORY) + 1)
    shoot(page, "subscribers")
    page.get_by_label("Address contains").fill("LESER@")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.subscribers tbody tr")).to_have_count(1)
    page.get_by_role("link", name=READER).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(READER)
    expect(page.locator("ol.events > li")).to_have_count(2)
    expect(page.locator("ol.events")).to_contain_text("203.0.113.7")
    expect(page.locator("ol.events")).to_contain_text(BROWSER)
    shoot(page, "subscriber")

    # Articles and feeds.
    page.get_by_role("link", name="Articles").first.click()
    expect(page.locator("table.articles tbody tr")).to_have_count(2)
    shoot(page, "articles")
    page.get_by_role("link", name="New article").click()
    page.get_by_role("button", name="Save").click()  # empty: the form again, with messages
    expect(page.locator("#title-errors")).to_contain_text("Please enter a title.")
    shoot(page, "article-form")
    page.goto("/admin/feeds")
    shoot(page, "feeds")

    # The digests page: the preview in a sandboxed frame, and the text part.
    page.get_by_role("link", name="Digests").first.click()
    preview = page.frame_locator("iframe.mail-preview")
    for title in TITLES:
        expect(preview.get_by_role("link", name=title)).to_be_visible()
    expect(preview.get_by_role("link", name="Unsubscribe")).to_be_visible()
    page.get_by_text("Text part").click()
    expect(page.locator("#preview-text")).to_contain_text(TITLES[0])
    shoot(page, "digests")

    # A test to an address of the admin's choice, through the outbox.
    page.get_by_label("Send a test to").fill("chefin@example.org")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("chefin@example.org")
    with app.app_context():
        assert sender.drain().sent == 1
    [test_mail] = smtp_server.wait_for(1)
    assert str(test_mail["To"]) == "chefin@example.org"
    with app.app_context():
        assert db.session.execute(db.select(Digest)).first() is None  # a test is no digest

    # Send now, confirmed on a second page; the request only queues.
    page.get_by_role("link", name="Send now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Send the digest now?")
    expect(page.get_by_role("checkbox")).to_have_count(len(TITLES))  # each ticked: the admin may leave one out
    page.get_by_label("Intro paragraph above the articles (plain text, optional)").fill("Zwei Neuigkeiten.")
    shoot(page, "send-now")
    page.get_by_role("button", name=f"Yes, send to {CONFIRMED} subscribers").click()
    expect(page).to_have_url(re.compile(r"/admin/digests/\d+$"))
    expect(page.locator('[data-count="queued"]')).to_have_text(str(CONFIRMED))
    expect(page.locator('[data-count="sent"]')).to_have_text("0")
    assert len(smtp_server.messages) == 1
    page.evaluate("window.stillTheSamePage = true")

    # The sender runs (here, in the test's thread) while the page polls the counts.
    with app.app_context():
        report = sender.drain()
    assert report.sent == CONFIRMED
    expect(page.locator('[data-count="sent"]')).to_have_text(str(CONFIRMED))
    expect(page.locator('[data-count="queued"]')).to_have_text("0")
    expect(page.locator(".progress-state")).to_contain_text("Done")
    assert page.locator("progress").evaluate("bar => bar.value") == 100
    assert page.evaluate("window.stillTheSamePage") is True  # updated by polling, not by reloading
    shoot(page, "digest-progress")

    # The confirmed readers' digests arrived at the SMTP server; nobody else's.
    messages = smtp_server.wait_for(1 + CONFIRMED)
    recipients = sorted(str(m["To"]) for m in messages[1:])
    assert recipients == sorted([READER] + [email for email, _days, leaves in HISTORY if not leaves])
    [mail] = [m for m in messages if str(m["To"]) == READER]
    body = mail.get_body(("plain",)).get_content()
    for title in TITLES:
        assert title in body
    assert "/unsubscribe/" in mail["List-Unsubscribe"]

    # The history lists it with its counts.
    page.get_by_role("link", name="Digests").first.click()
    row = page.locator("table tbody tr").first
    expect(row.locator("td.num")).to_have_text([str(CONFIRMED), "0", str(CONFIRMED), "0", "0"])  # … bounced

    # Signing out ends the session.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/$"))


ADMIN_PAGES = [
    "/admin/",
    "/admin/subscribers",
    "/admin/subscribers/1",
    "/admin/articles",
    "/admin/articles/new",
    "/admin/articles/1/edit",
    "/admin/articles/1/delete",
    "/admin/feeds",
    "/admin/digests",
    "/admin/digests/send-now",
    "/admin/bounce-reports",
    "/admin/embed",
    "/admin/admins",
    "/admin/audit",
    "/admin/account",
    "/admin/connections",
]


@pytest.mark.parametrize(
    ("name", "viewport"), [("desktop", DESKTOP_VIEWPORT), ("phone", PHONE_VIEWPORT)], ids=["desktop", "phone"]
)
def test_every_admin_page_works_in_german_and_fits_the_screen(
    app, newsroom, live_server, open_page, name, viewport
):
    from playwright.sync_api import expect

    page = open_page("de-DE", viewport=viewport)
    page.goto("/admin/login")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    sign_in(page, labels=("E-Mail-Adresse", re.compile("Passwor")))
    expect(page).to_have_url(re.compile(r"/admin/$"))
    for path in ADMIN_PAGES:
        response = page.goto(path)
        assert response.status == 200, path
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.locator("nav a")).to_have_count(9)  # an admin's: every area (API & webhooks the ninth)
        # Nothing sticks out sideways (wide tables scroll inside their own box).
        if path == "/admin/embed":  # the widget's live preview, on the admin's own policy
            expect(page.get_by_role("button", name="Abschicken")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
        slug = path.strip("/").replace("/", "-").replace("admin-", "").replace("admin", "dashboard")
        shoot(page, f"de-{name}-{slug}")

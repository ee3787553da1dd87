"""The sign-up on the publisher's own pages in real headless Chromium (issue 14, SPEC §8): the
publisher's article page is served from another loopback port (another origin than the
service), under the Content-Security-Policy the README tells publishers to set, in a Chromium
that blocks third-party cookies. The widget, the iframe and the plain form each sign a reader
up end to end (the DOI mail arrives through the real SMTP server; the confirmed evidence
names the channel ``embed`` and the article page); a site not in EMBED_ORIGINS gets nowhere;
the widget works by keyboard alone; axe-core finds no serious violation in the widget or the
iframe. Screenshots: test-artifacts/screenshots/embed-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter import subscribers
from newsletter.admin import embed as admin_embed
from newsletter.extensions import db
from newsletter.models import ConsentEvent, ConsentEventType, SubscriberStatus
from tests.support.browser import SCREENSHOTS, LiveServer
from tests.support.embedding import publisher_app, third_party_cookie_probe
from tests.support.flows import drain
from tests.support.visitor import confirm_link

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "support" / "vendor" / "axe.min.js"
ARTICLE_PATH = "/news/spring-sale"
#: What the README tells a publisher with a CSP of its own to allow (SERVICE: the service's origin).
PUBLISHER_CSP = (
    "default-src 'self'; script-src 'self' SERVICE; style-src 'self' SERVICE; connect-src 'self' SERVICE; "
    "frame-src SERVICE; form-action 'self' SERVICE; img-src 'self'"
)


def another_site(server: LiveServer) -> str:
    """The base URL of ``server`` as another site than the service's (127.0.0.1): ports do not
    make sites, hosts do (a cookie of 127.0.0.1:A is sent to 127.0.0.1:B)."""
    return server.url.replace("//127.0.0.1:", "//localhost:")


class Publisher:
    """The publisher's site on its own port and host: one article page per way of embedding."""

    def __init__(self, app, service: LiveServer) -> None:
        app.config["BASE_URL"] = service.url  # the snippets and the mails' links point at the live service
        with app.test_request_context(headers={"Accept-Language": "de"}):
            self.snippets = admin_embed._snippets("de")
            db.session.commit()
        self.pages: dict[str, str] = {}
        self.server = LiveServer(publisher_app(self.pages, PUBLISHER_CSP.replace("SERVICE", service.url)))

    @property
    def url(self) -> str:
        return another_site(self.server)

    def page(self, way: str, extra: str = "") -> str:
        path = f"{ARTICLE_PATH}-{way}"
        self.pages[path] = self.snippets[way] + extra
        return self.url + path


@pytest.fixture
def publisher(smtp_app, live_server):
    site = Publisher(smtp_app, live_server)
    with site.server:
        smtp_app.config["EMBED_ORIGINS"] = [site.url]
        yield site


@pytest.fixture
def stranger(smtp_app, live_server):
    """A site not in EMBED_ORIGINS, with the same snippets."""
    site = Publisher(smtp_app, live_server)
    with site.server:
        yield site


def _evidence(app, email: str) -> ConsentEvent:
    with app.app_context():
        subscriber = subscribers.find_by_email(email)
        assert subscriber.status is SubscriberStatus.CONFIRMED
        event = db.session.execute(
            select(ConsentEvent).where(
                ConsentEvent.subscriber_id == subscriber.id, ConsentEvent.type == ConsentEventType.REQUESTED
            )
        ).scalar_one()
        db.session.expunge(event)
        return event


def _confirm_by_mail(app, smtp_server, new_page, email: str) -> None:
    """The worker sends the DOI mail through the real SMTP server; the reader confirms it."""
    assert drain(app).sent == 1
    [message] = smtp_server.wait_for(1)
    assert email in str(message["To"])
    page = new_page("de-DE")
    page.goto(confirm_link(message))
    page.get_by_role("button", name="Anmeldung bestätigen").click()
    page.get_by_role("heading", name="Ihre Anmeldung ist bestätigt").wait_for()


def test_third_party_cookies_are_blocked_in_this_browser(new_page_without_third_party_cookies):
    with LiveServer(third_party_cookie_probe()) as probe:
        site = publisher_app({"/set": f'<iframe src="{probe.url}/set"></iframe>',
                              "/check": f'<iframe name="probe" src="{probe.url}/check"></iframe>'})
        with LiveServer(site) as page_site:
            page = new_page_without_third_party_cookies("de-DE")
            page.goto(another_site(page_site) + "/set")
            page.wait_for_load_state("load")
            page.goto(another_site(page_site) + "/check")
            page.wait_for_load_state("load")
            assert page.frame(name="probe").inner_text("#answer") == "blocked"


def test_the_widget_signs_a_reader_up_on_the_publishers_page(
    smtp_app, smtp_server, publisher, new_page_without_third_party_cookies
):
    from playwright.sync_api import expect

    new_page = new_page_without_third_party_cookies
    article = publisher.page("widget")
    page = new_page("de-DE")
    page.goto(article)
    statement = page.locator("[data-newsletter-signup] .statement")
    expect(statement).to_contain_text("Mit einem Klick auf „Abschicken“")
    button = page.get_by_role("button", name="Abschicken")
    expect(button).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "embed-widget-1280.png"), full_page=True)

    page.get_by_label("E-Mail-Adresse").fill("leserin@gmail.com")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/subscriptions")) as answer:
        button.click()
    assert answer.value.status == 202
    result = page.get_by_role("status")
    expect(result).to_contain_text("Fast geschafft")
    inbox = page.get_by_role("link", name="Gmail öffnen")
    assert "mail.google.com" in inbox.get_attribute("href") and "news%40example.org" in inbox.get_attribute("href")
    assert page.url == article  # never left the page
    page.screenshot(path=str(SCREENSHOTS / "embed-widget-done-1280.png"), full_page=True)
    assert page.context.cookies() == []  # nothing stored, by us or for us

    _confirm_by_mail(smtp_app, smtp_server, new_page, "leserin@gmail.com")
    event = _evidence(smtp_app, "leserin@gmail.com")
    assert (event.channel, event.detail) == ("embed", {"source_url": article})


def test_the_widget_at_phone_width_and_in_english(smtp_app, publisher, new_page_without_third_party_cookies):
    from playwright.sync_api import expect

    publisher.snippets["widget"] = publisher.snippets["widget"].replace('lang="de"', 'lang="en"')
    page = new_page_without_third_party_cookies("de-DE", viewport={"width": 320, "height": 700})
    page.goto(publisher.page("widget"))
    expect(page.get_by_role("button", name="Subscribe")).to_be_visible()
    expect(page.get_by_label("Email address")).to_be_visible()
    box = page.locator("[data-newsletter-signup]").bounding_box()
    assert box["width"] <= 320
    assert page.evaluate("document.documentElement.scrollWidth") <= 320  # nothing sticks out
    page.screenshot(path=str(SCREENSHOTS / "embed-widget-en-320.png"), full_page=True)


def test_the_widget_works_by_keyboard_alone(smtp_app, publisher, new_page_without_third_party_cookies):
    from playwright.sync_api import expect

    page = new_page_without_third_party_cookies("de-DE")
    page.goto(publisher.page("widget"))
    field = page.get_by_label("E-Mail-Adresse")
    expect(field).to_be_visible()
    page.keyboard.press("Tab")
    expect(field).to_be_focused()
    page.keyboard.press("Enter")  # nothing typed: the error is said and the field keeps the focus
    expect(page.locator("[data-newsletter-signup] .error")).to_have_text("Bitte geben Sie Ihre E-Mail-Adresse ein.")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    page.keyboard.type("tastatur@example.org")
    page.keyboard.press("Tab")  # the privacy notice's link
    expect(page.get_by_role("link", name="Datenschutzhinweise")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Abschicken")).to_be_focused()
    page.keyboard.press("Enter")
    title = page.locator("[data-newsletter-signup] .title")
    expect(title).to_have_text("Fast geschafft: Bitte sehen Sie in Ihr Postfach")
    expect(title).to_be_focused()


def test_the_iframe_signs_a_reader_up_and_takes_the_height_it_needs(
    smtp_app, smtp_server, publisher, new_page_without_third_party_cookies
):
    from playwright.sync_api import expect

    new_page = new_page_without_third_party_cookies
    article = publisher.page("iframe")
    page = new_page("de-DE", viewport={"width": 320, "height": 700})
    page.goto(article)
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("button", name="Abschicken")).to_be_visible()
    # The snippet says 440 px; the loader gives the frame the height of its content instead.
    inner = next(candidate for candidate in page.frames if "/embed/subscribe" in candidate.url)
    content = inner.evaluate(
        "document.fonts.ready.then(() => Math.ceil(document.documentElement.getBoundingClientRect().height))"
    )
    page.wait_for_function(
        "height => Math.round(document.querySelector('iframe').getBoundingClientRect().height) === height",
        arg=content,
    )
    assert content != 440
    page.screenshot(path=str(SCREENSHOTS / "embed-iframe-320.png"), full_page=True)
    frame.get_by_label("E-Mail-Adresse").fill("rahmen@example.org")
    frame.get_by_role("button", name="Abschicken").click()
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Bitte sehen Sie in Ihr Postfach")
    page.screenshot(path=str(SCREENSHOTS / "embed-iframe-done-320.png"), full_page=True)
    assert page.context.cookies() == []

    _confirm_by_mail(smtp_app, smtp_server, new_page, "rahmen@example.org")
    event = _evidence(smtp_app, "rahmen@example.org")
    assert (event.channel, event.detail) == ("embed", {"source_url": article})


def test_the_plain_form_signs_a_reader_up_and_lands_on_the_thank_you_page(
    smtp_app, smtp_server, publisher, new_page_without_third_party_cookies
):
    from playwright.sync_api import expect

    new_page = new_page_without_third_party_cookies
    publisher.pages["/thanks"] = "<p>Danke!</p>"
    thanks = publisher.url + "/thanks"
    publisher.snippets["form"] = publisher.snippets["form"].replace(
        'name="redirect" value=""', f'name="redirect" value="{thanks}"'
    )
    page = new_page("de-DE")
    page.goto(publisher.page("form"))
    page.get_by_label("E-Mail-Adresse").fill("formular@example.org")
    page.get_by_role("button", name="Abschicken").click()
    page.wait_for_url(thanks)
    expect(page.get_by_text("Danke!")).to_be_visible()

    _confirm_by_mail(smtp_app, smtp_server, new_page, "formular@example.org")
    event = _evidence(smtp_app, "formular@example.org")
    # The page's default Referrer-Policy sends only its origin to another site.
    assert (event.channel, event.detail) == ("embed", {"source_url": publisher.url + "/"})


def test_a_site_not_in_embed_origins_gets_nowhere_and_no_mail_goes_out(
    smtp_app, smtp_server, publisher, stranger, chromium_without_third_party_cookies
):
    from playwright.sync_api import expect

    # Its own context: the browser's CORS refusals are the point here.
    context = chromium_without_third_party_cookies.new_context(locale="de-DE")
    try:
        page = context.new_page()
        page.goto(stranger.page("widget"))
        expect(page.locator("[data-newsletter-signup] .error")).to_have_text(
            "Die Anmeldung ist gerade nicht möglich. Bitte versuchen Sie es später noch einmal."
        )
        page.goto(stranger.page("form"))
        page.get_by_label("E-Mail-Adresse").fill("opfer@example.org")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="Abschicken").click()
        assert answer.value.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Hier nicht erlaubt")
        page.goto(stranger.page("iframe"))
        page.wait_for_load_state("load")
        assert page.frame_locator("iframe").locator("button").count() == 0  # frame-ancestors refused it
    finally:
        context.close()
    assert drain(smtp_app).sent == 0
    assert smtp_server.messages == []


def _serious_violations(target) -> list[str]:
    target.evaluate(AXE.read_text(encoding="utf-8"))
    result = target.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
        for violation in result
        if violation["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_violation_in_the_widget_or_the_iframe(
    smtp_app, publisher, chromium_without_third_party_cookies
):
    from playwright.sync_api import expect

    # Its own context: axe-core adds inline styles of its own, which the publisher's CSP refuses.
    context = chromium_without_third_party_cookies.new_context(locale="de-DE", bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(publisher.page("widget"))
        expect(page.get_by_role("button", name="Abschicken")).to_be_visible()
        assert _serious_violations(page) == []
        page.get_by_role("button", name="Abschicken").click()  # the error state too
        expect(page.locator("[data-newsletter-signup] .error")).not_to_be_empty()
        assert _serious_violations(page) == []

        page.goto(publisher.page("iframe"))
        expect(page.frame_locator("iframe").get_by_role("button", name="Abschicken")).to_be_visible()
        inner = next(frame for frame in page.frames if "/embed/subscribe" in frame.url)
        assert _serious_violations(inner) == []
    finally:
        context.close()

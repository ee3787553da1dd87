"""The bounce pages of the admin area in real headless Chromium (issue 17 point 3): a
subscriber's bounces and complaints, the digest's bounced count, the reports kept for the
admin (hostile content shown as text). Screenshots at phone and desktop width go to
test-artifacts/screenshots/bounces-*.png for a reviewer's eyes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter import bounce_reports
from newsletter.delivery import verp
from newsletter.extensions import db
from newsletter.models import Delivery, Subscriber
from tests.support import reports
from tests.support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.support.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, shoot_whole_page
from tests.support.flows import drain, queue_digest

pytestmark = pytest.mark.browser


@pytest.fixture
def bounced(config, request):
    """A digest to three readers, then a hard bounce, a complaint, an out-of-office reply and
    garbage came back; the app."""
    config["BOUNCE_ADDRESS"] = "bounces@example.org"
    app = request.getfixturevalue("app")
    create_admin(app)
    queue_digest(app, 3)
    drain(app)
    with app.app_context():
        rows = dict(db.session.execute(select(Subscriber.email, Delivery).join(Delivery.subscriber)).all())
        envelope = verp.from_config(app.config)
        hard, complained = rows["reader0@example.org"], rows["reader1@example.org"]
        received = [
            (reports.dsn("reader0@example.org", "5.1.1"), envelope.address(hard.id)),
            (reports.arf("reader1@example.org", complained.message_id), "bounces@example.org"),
            (reports.out_of_office("reader2@example.org"), envelope.address(rows["reader2@example.org"].id)),
            (reports.GARBAGE, "bounces@example.org"),
        ]
        for raw, recipient in received:
            bounce_reports.store(raw, "", [recipient])
        db.session.commit()
        bounce_reports.process_waiting()
        return app, hard.subscriber_id, hard.digest_id


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT, DESKTOP_VIEWPORT], ids=["phone", "desktop"])
def test_bounces_complaints_and_kept_reports_in_the_admin(bounced, live_server, open_page, viewport):
    from playwright.sync_api import expect

    app, reader, digest_id = bounced
    page = open_page("en-US", viewport)
    width = "phone" if viewport is PHONE_VIEWPORT else "desktop"
    page.goto("/admin/login")
    page.get_by_label("Email address").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.locator("form button[type=submit]").click()

    page.goto(f"/admin/subscribers/{reader}")
    expect(page.locator("tr.bounce-hard")).to_contain_text("5.1.1")
    expect(page.locator("tr.bounce-hard")).to_contain_text("a report that came back")
    shoot_whole_page(page, f"bounces-subscriber-{width}")

    page.goto("/admin/digests")
    expect(page.locator("table").last).to_contain_text("1 complaint")
    shoot_whole_page(page, f"bounces-digests-{width}")

    page.get_by_role("link", name="Bounce reports").click()
    expect(page.locator("tbody tr")).to_have_count(4)
    expect(page.locator("tbody")).to_contain_text("automatic reply")
    expect(page.locator("tbody")).to_contain_text("withdrawn and suppressed")
    shoot_whole_page(page, f"bounces-reports-{width}")

    page.locator("tbody tr").first.get_by_role("link").click()  # the newest: the garbage
    expect(page.locator("pre.raw-report")).to_contain_text("<script>alert(1)</script>")
    assert page.locator("pre.raw-report script").count() == 0
    shoot_whole_page(page, f"bounces-report-{width}")

"""The team's admin pages in real headless Chromium (issue 19): two-factor sign-in with a code
computed by pyotp, and the subscriber list, team and audit pages readable on a phone.
Screenshots go to test-artifacts/screenshots/team-*.png (gitignored)."""

from __future__ import annotations

import re

import pyotp
import pytest

from newsletter.extensions import db
from tests.support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, post, sign_in
from tests.support.browser import DESKTOP_VIEWPORT, PHONE_VIEWPORT, shoot_whole_page
from tests.support.factories import add_subscriber
from tests.support.flows import drain

pytestmark = pytest.mark.browser


def _password_step(page) -> None:
    page.goto("/admin/login")
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("main button[type=submit]")


def _code_step(page, code: str) -> None:
    page.fill("input[name=code]", code)
    page.click("main button[type=submit]")


def test_two_factor_sign_in_in_chromium_with_a_code_from_pyotp(app, open_page, clock):
    create_admin(app)
    page = open_page("de-DE", viewport=PHONE_VIEWPORT)
    _password_step(page)
    page.wait_for_url(re.compile(r"/admin/$"))

    page.click(".admin-bar a.who")  # one's own account
    page.click("main a.button")  # turn it on
    page.wait_for_url(re.compile(r"/admin/account/two-factor$"))
    assert page.locator(".qr svg path").count() >= 1  # the QR code, drawn on the server
    shoot_whole_page(page, "team-two-factor-on-phone")
    secret = page.inner_text("#totp-secret")
    _code_step(page, pyotp.TOTP(secret).at(clock.now()))
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    shoot_whole_page(page, "team-recovery-codes-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    page.click(".signout button")
    page.wait_for_url(re.compile(r"/admin/login"))

    # Password, then the app's code: signed in.
    clock.advance(seconds=30)
    _password_step(page)
    page.wait_for_url(re.compile(r"/admin/login/code"))
    shoot_whole_page(page, "team-login-code-phone")
    _code_step(page, "123 456")
    assert page.locator(".notice.error").count() == 1  # wrong: asked again
    _code_step(page, pyotp.TOTP(secret).at(clock.now()))
    page.wait_for_url(re.compile(r"/admin/$"))
    assert page.locator(".admin-bar a.who").inner_text() == ADMIN_EMAIL
    page.click(".signout button")

    # A recovery code signs in once.
    _password_step(page)
    _code_step(page, codes[0])
    page.wait_for_url(re.compile(r"/admin/$"))
    page.click(".signout button")
    _password_step(page)
    _code_step(page, codes[0])
    assert page.locator(".notice.error").count() == 1
    assert "/admin/login/code" in page.url


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT, DESKTOP_VIEWPORT], ids=["phone", "desktop"])
def test_subscribers_team_and_audit_pages_fit_a_phone(app, open_page, runner, tmp_path, viewport):
    create_admin(app)
    create_admin(app, "redaktion.mit.langem.namen@beispiel-verlag.example")
    path = tmp_path / "list.csv"
    path.write_text(
        "email,consented_at,confirmed_at,ip,source\n"
        "anna.mueller@beispiel.example,2019-05-04T10:00:00+00:00,2019-05-04T10:05:00+00:00,192.0.2.1,messe-hannover-2019\n",
        encoding="utf-8",
    )
    assert runner.invoke(args=["import-subscribers", str(path)]).exit_code == 0
    with app.app_context():
        add_subscriber("karl-heinz.mueller-luedenscheidt@sehr-langer-domainname.example")
        add_subscriber("mueller@example.org")
        db.session.commit()
    page = open_page("de-DE", viewport=viewport)
    _password_step(page)
    page.wait_for_url(re.compile(r"/admin/$"))
    name = "phone" if viewport is PHONE_VIEWPORT else "desktop"
    for target, shot in (
        ("/admin/subscribers?q=mueller", "subscribers"),
        ("/admin/admins", "team"),
        ("/admin/audit", "audit"),
        ("/admin/account", "account"),
    ):
        page.goto(target)
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], target
        shoot_whole_page(page, f"team-{shot}-{name}")
    page.goto("/admin/subscribers?q=mueller")
    assert page.locator("table.subscribers tbody tr").count() == 3
    assert "importiert" in page.locator("table.subscribers tbody").inner_text()


@pytest.mark.parametrize("width", [320, 1280])
def test_the_invitation_mail_reads_well_narrow_and_wide(app, client, outbox, new_page, width):
    create_admin(app)
    sign_in(client)
    post(client, "/admin/admins/invite", {"email": "neu@example.org", "role": "editor"}, form_page="/admin/admins")
    drain(app)
    [message] = outbox
    html = message.get_body(("html",)).get_content()
    assert "/admin/set-password/" in message.get_body(("plain",)).get_content()
    page = new_page("de-DE", viewport={"width": width, "height": 700})
    page.set_content(html)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.get_by_role("link", name="Passwort wählen").is_visible()
    assert page.locator("td.button-cell a.button").count() == 1  # the layout's button, in the accent colour
    shoot_whole_page(page, f"team-invitation-mail-{width}")

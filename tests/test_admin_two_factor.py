"""Two-factor sign-in (SPEC §11): an admin turns TOTP on with a code of the QR code's secret;
the sign-in then asks for a code after the password; each TOTP code and each recovery code
works once; recovery codes are stored only hashed; turning it off needs a code."""

from __future__ import annotations

import re

import pyotp

from newsletter import admins
from newsletter.extensions import db
from newsletter.models import AdminRecoveryCode, AuditEvent
from tests.support.admin import ADMIN_EMAIL, post, sign_in
from tests.support.visitor import hidden_fields


def _turn_on(client, clock) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on as the signed-in admin; (the secret, the recovery codes)."""
    page = client.get("/admin/account/two-factor").get_data(as_text=True)
    assert "<svg" in page and "<path" in page  # the QR code, drawn on the server
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    wrong = client.post(
        "/admin/account/two-factor", data={"csrf_token": hidden_fields(page)["csrf_token"], "code": "000000"}
    )
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret).at(clock.now())
    shown = client.post(
        "/admin/account/two-factor", data={"csrf_token": hidden_fields(page)["csrf_token"], "code": code}
    )
    assert shown.status_code == 200
    codes = re.findall(r"<li>([0-9a-f]{6}-[0-9a-f]{6})</li>", shown.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def _code_step(client, code: str):
    page = client.get("/admin/login/code")
    return client.post(
        "/admin/login/code", data={"csrf_token": hidden_fields(page.get_data(as_text=True))["csrf_token"], "code": code}
    )


def _sign_out(client) -> None:
    assert post(client, "/admin/logout").status_code == 302


def test_a_totp_code_and_a_recovery_code_each_sign_in_once(app, admin_client, clock):
    secret, codes = _turn_on(admin_client, clock)
    with app.app_context():
        stored = db.session.execute(db.select(AdminRecoveryCode.code_hash)).scalars().all()
        assert len(stored) == 10 and not set(codes) & set(stored)  # hashes only
        assert "two-factor-on" in db.session.execute(db.select(AuditEvent.action)).scalars().one()
    _sign_out(admin_client)

    # The password alone no longer opens the admin.
    first = sign_in(admin_client)
    assert first.headers["Location"].startswith("/admin/login/code")
    assert admin_client.get("/admin/").status_code == 302
    used_at_setup = pyotp.TOTP(secret).at(clock.now())
    assert _code_step(admin_client, used_at_setup).status_code == 401  # spent turning it on
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now())
    assert _code_step(admin_client, code).status_code == 302
    assert admin_client.get("/admin/").status_code == 200
    _sign_out(admin_client)

    sign_in(admin_client)
    assert _code_step(admin_client, code).status_code == 401  # the same code again
    assert _code_step(admin_client, codes[3].upper()).status_code == 302  # a recovery code, any case
    assert admin_client.get("/admin/").status_code == 200
    _sign_out(admin_client)
    sign_in(admin_client)
    assert _code_step(admin_client, codes[3]).status_code == 401  # spent
    with app.app_context():
        assert len(db.session.execute(db.select(AdminRecoveryCode)).all()) == 9

    # The code step without a password first, or after five minutes, starts over.
    clock.advance(minutes=6)
    late = admin_client.get("/admin/login/code")
    assert late.status_code == 302 and late.headers["Location"].startswith("/admin/login")
    fresh = app.test_client()
    assert fresh.get("/admin/login/code").status_code == 302


def test_turning_it_off_needs_a_current_code(app, admin_client, clock):
    secret, _codes = _turn_on(admin_client, clock)
    refused = post(admin_client, "/admin/account/two-factor/off", {"code": "123456"}, form_page="/admin/account")
    assert refused.status_code == 302
    with app.app_context():
        assert admins.find_by_email(ADMIN_EMAIL).totp_secret is not None
    clock.advance(seconds=30)
    post(
        admin_client,
        "/admin/account/two-factor/off",
        {"code": pyotp.TOTP(secret).at(clock.now())},
        form_page="/admin/account",
    )
    with app.app_context():
        assert admins.find_by_email(ADMIN_EMAIL).totp_secret is None
        assert db.session.execute(db.select(AdminRecoveryCode)).first() is None
    _sign_out(admin_client)
    assert sign_in(admin_client).headers["Location"] == "/admin/"

"""Admin sessions live on the server: signing out, a new password, idleness
(ADMIN_SESSION_IDLE_MINUTES) and 12 hours end them, whoever still holds a copy of the cookie
(issue 12, point 3)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from tests.support.admin import ADMIN_EMAIL, create_admin, post, sign_in
from tests.support.clients import client_from, client_with_cookie, session_cookie, session_data


def _signed_in(app, ip: str = "192.0.2.10"):
    client = client_from(app, ip)
    assert sign_in(client).status_code == 302
    return client


def _opens_the_admin(client) -> bool:
    response = client.get("/admin/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")
    return False


def _session_rows(app) -> list[dict]:
    with app.app_context():
        table = db.metadata.tables["admin_session"]
        return [dict(row._mapping) for row in db.session.execute(select(table))]


def test_a_cookie_copied_before_sign_out_does_not_open_the_admin_afterwards(app):
    create_admin(app)
    browser = _signed_in(app)
    copied = session_cookie(browser)
    assert _opens_the_admin(client_with_cookie(app, copied, ip="203.0.113.9"))
    assert post(browser, "/admin/logout").headers["Location"] == "/admin/login"
    replay = client_with_cookie(app, copied, ip="203.0.113.9")
    assert not _opens_the_admin(replay)
    assert not _opens_the_admin(browser)


def test_signing_out_ends_only_that_session(app):
    create_admin(app)
    laptop, phone = _signed_in(app, "192.0.2.10"), _signed_in(app, "192.0.2.11")
    post(laptop, "/admin/logout")
    assert not _opens_the_admin(laptop)
    assert _opens_the_admin(phone)


def test_an_idle_session_ends_after_admin_session_idle_minutes(app, clock):
    assert app.config["ADMIN_SESSION_IDLE_MINUTES"] == 60
    create_admin(app)
    browser = _signed_in(app)
    copied = session_cookie(browser)
    clock.advance(minutes=59)
    assert _opens_the_admin(browser)  # activity keeps it going
    clock.advance(minutes=59)
    assert _opens_the_admin(browser)
    clock.advance(minutes=61)
    assert not _opens_the_admin(browser)
    assert not _opens_the_admin(client_with_cookie(app, copied))
    assert sign_in(browser).status_code == 302  # signing in again starts a new one
    assert _opens_the_admin(browser)


def test_the_idle_time_is_configurable(config, app, clock):
    app.config["ADMIN_SESSION_IDLE_MINUTES"] = 5
    create_admin(app)
    browser = _signed_in(app)
    clock.advance(minutes=4)
    assert _opens_the_admin(browser)
    clock.advance(minutes=6)
    assert not _opens_the_admin(browser)


def test_any_session_ends_after_12_hours_however_active(app, clock):
    create_admin(app)
    browser = _signed_in(app)
    for _ in range(12 * 2 - 1):
        clock.advance(minutes=30)
        assert _opens_the_admin(browser)
    clock.advance(minutes=30, seconds=1)
    assert not _opens_the_admin(browser)


def test_a_new_password_ends_the_sessions_on_every_client(app, runner):
    create_admin(app)
    laptop, phone = _signed_in(app, "192.0.2.10"), _signed_in(app, "192.0.2.11")
    copied = session_cookie(phone)
    result = runner.invoke(args=["create-admin", ADMIN_EMAIL, "--password", "ein-ganz-anderes-Passwort"])
    assert result.exit_code == 0, result.output
    assert not _opens_the_admin(laptop)
    assert not _opens_the_admin(client_with_cookie(app, copied))
    assert _session_rows(app) == []
    assert sign_in(phone, password="ein-ganz-anderes-Passwort").status_code == 302
    assert _opens_the_admin(phone)


def test_the_server_keeps_only_a_hash_of_the_session_id(app):
    create_admin(app)
    browser = _signed_in(app)
    [row] = _session_rows(app)
    data = session_data(app, session_cookie(browser))
    carried = [value for value in data.values() if isinstance(value, str) and len(value) >= 32]  # secrets
    stored = {str(value) for value in row.values()}
    assert not stored & set(carried)  # nothing the cookie carries is in the table...
    hashes = {hashlib.sha256(value.encode()).hexdigest() for value in carried}
    assert hashes & stored  # ...but the hash of its random session id is


def test_last_seen_is_written_at_most_once_a_minute(app, clock):
    create_admin(app)
    browser = _signed_in(app)
    [row] = _session_rows(app)
    signed_in_at = clock.now()
    assert row["created_at"] == row["last_seen_at"] == signed_in_at
    clock.advance(seconds=30)
    for _ in range(5):
        assert _opens_the_admin(browser)
    assert _session_rows(app)[0]["last_seen_at"] == signed_in_at
    clock.advance(seconds=31)
    assert _opens_the_admin(browser)
    assert _session_rows(app)[0]["last_seen_at"] == signed_in_at + timedelta(seconds=61)


def test_the_session_cookie_is_httponly_lax_secure_and_dies_with_the_browser(app):
    # The test config's BASE_URL is https://…
    create_admin(app)
    response = sign_in(client_from(app, "192.0.2.10"))
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite"} <= attributes
    assert "SameSite=Lax" in cookie
    assert not {"expires", "max-age"} & attributes
    # A signed cookie older than this is refused whatever it holds (Flask's default: 31 days).
    assert app.permanent_session_lifetime <= timedelta(hours=12)


@pytest.mark.parametrize("value", [0, -5, "60", True])
def test_an_unusable_idle_time_stops_the_start(config, clock, tmp_path, value):
    from newsletter import create_app
    from newsletter.settings import ConfigError

    config["ADMIN_SESSION_IDLE_MINUTES"] = value
    with pytest.raises(ConfigError, match="ADMIN_SESSION_IDLE_MINUTES"):
        create_app(config, clock_=clock, instance_path=str(tmp_path / "other"))



def test_the_purge_deletes_run_out_sessions_and_old_sign_in_failures(app, runner, clock):
    create_admin(app)
    sign_in(client_from(app, "192.0.2.20"), password="not-the-password-at-all")
    idle = _signed_in(app, "192.0.2.10")
    clock.advance(minutes=50)
    active = _signed_in(app, "192.0.2.11")
    active_since = clock.now()
    clock.advance(minutes=11)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "2 expired admin sign-in records" in result.output  # the failure and the idle session
    assert [row["created_at"] for row in _session_rows(app)] == [active_since]
    assert _opens_the_admin(active) and not _opens_the_admin(idle)

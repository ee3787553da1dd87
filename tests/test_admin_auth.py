"""Signing in to the admin area: every admin URL needs it, CSRF, throttling, no enumeration (SPEC §4)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from werkzeug.routing import Rule

from newsletter import admins, subscribers
from newsletter.admin import roles
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, Digest, SubscriberStatus
from tests.support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, csrf_token, post, sign_in
from tests.support.factories import add_article, add_subscriber
from tests.support.limits import limit


def _admin_rules(app) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")]


def _example_path(rule: Rule) -> str:
    return rule.build({name: 1 for name in rule.arguments})[1]


def test_every_admin_url_but_the_login_redirects_to_the_login_when_signed_out(app, client):
    # Iterates over the URL map, so a view added later is covered without touching this test.
    rules = [rule for rule in _admin_rules(app) if roles.declared(app.view_functions[rule.endpoint]) != roles.OPEN]
    assert len(rules) >= 15
    with app.app_context():
        add_subscriber("anna@example.org")
        db.session.commit()
    token = csrf_token(client)
    checked = 0
    for rule in rules:
        path = _example_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token, "email": "x@example.org"} if method == "POST" else None
            response = client.open(path, method=method, data=data)
            assert response.status_code == 302, (method, path, response.status_code)
            location = response.headers["Location"]
            if method == "GET":  # where to go after signing in
                assert location == "/admin/login?next=" + quote(path), (method, path, location)
            else:  # a POST cannot be repeated by a redirect
                assert location == "/admin/login", (method, path, location)
            checked += 1
    assert checked >= 19
    with app.app_context():  # nothing happened on the way
        assert db.session.execute(db.select(Digest)).first() is None
        assert subscribers.find_by_email("anna@example.org").status is SubscriberStatus.CONFIRMED


def test_the_login_page_itself_is_open_and_german_by_default(app, client):
    page = client.get("/admin/login")
    assert page.status_code == 200
    assert '<html lang="de">' in page.get_data(as_text=True)
    english = client.get("/admin/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert "Sign in" in english.get_data(as_text=True)


def test_sign_in_leads_to_the_page_asked_for(app, client):
    create_admin(app)
    wanted = "/admin/subscribers?status=confirmed"
    response = client.get(wanted)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert login_url == "/admin/login?next=/admin/subscribers?status%3Dconfirmed"
    response = sign_in(client, next=wanted)
    assert response.status_code == 302
    assert response.headers["Location"] == wanted
    assert client.get(wanted).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin/",
        "//evil.example/admin/",
        "/\\evil.example",
        "javascript:alert(1)",
        "admin/",
        "/admin/\r\nSet-Cookie: x=1",
    ],
)
def test_next_must_be_a_local_path(app, client, target):
    create_admin(app)
    response = sign_in(client, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_a_failed_sign_in_does_not_tell_whether_the_address_is_an_admin(app, client, monkeypatch):
    create_admin(app)
    checked: list[str] = []
    real_check = admins.check_password_hash
    monkeypatch.setattr(
        admins, "check_password_hash", lambda hashed, pw: checked.append(hashed) or real_check(hashed, pw)
    )

    wrong_password = sign_in(client, ADMIN_EMAIL, "not-the-password-at-all")
    unknown_email = sign_in(client, "nobody@example.org", "not-the-password-at-all")

    assert wrong_password.status_code == unknown_email.status_code == 401

    def message(response) -> str:
        return re.search(r'role="alert">([^<]*)<', response.get_data(as_text=True)).group(1)

    assert message(wrong_password) == message(unknown_email)
    assert "wrong" in message(wrong_password).lower() or "falsch" in message(wrong_password).lower()
    # Both paths compare one password hash, so they take about as long.
    assert len(checked) == 2
    assert checked[0] != checked[1]
    # The typed address is shown again, the password never.
    assert 'value="not-the-password-at-all"' not in unknown_email.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_the_login_form_refuses_a_post_without_csrf_token(app, client):
    create_admin(app)
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_admin_forms_refuse_posts_without_or_with_a_foreign_csrf_token(app, admin_client):
    with app.app_context():
        subscriber = add_subscriber("anna@example.org")
        add_article("News")
        db.session.commit()
        subscriber_id = subscriber.id
    foreign = app.test_client()
    foreign_token = csrf_token(foreign)
    posts = [
        ("/admin/logout", {}),
        (f"/admin/subscribers/{subscriber_id}/withdraw", {}),
        ("/admin/digests/send-now", {}),
        ("/admin/digests/test", {"email": "me@example.org"}),
        ("/admin/articles/new", {"title": "T", "url": "https://example.org/t"}),
        ("/admin/articles/1/edit", {"title": "T", "url": "https://example.org/t"}),
    ]
    for path, data in posts:
        assert admin_client.post(path, data=data).status_code == 400, path
        assert admin_client.post(path, data={**data, "csrf_token": foreign_token}).status_code == 400, path
    with app.app_context():
        assert subscribers.find_by_email("anna@example.org").status is SubscriberStatus.CONFIRMED
        assert db.session.execute(db.select(Digest)).first() is None
        assert db.session.execute(db.select(Delivery).filter_by(status=DeliveryStatus.QUEUED)).first() is None
    assert admin_client.get("/admin/").status_code == 200  # still signed in


def test_sign_out_is_a_post_and_ends_the_session(app, admin_client):
    assert admin_client.get("/admin/logout").status_code == 405
    assert admin_client.get("/admin/").status_code == 200
    response = post(admin_client, "/admin/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login"
    assert admin_client.get("/admin/").status_code == 302


def test_a_new_password_signs_out_the_sessions_of_the_old_one(app, admin_client, runner):
    assert admin_client.get("/admin/").status_code == 200
    result = runner.invoke(args=["create-admin", ADMIN_EMAIL, "--password", "ein-ganz-anderes-Passwort"])
    assert result.exit_code == 0, result.output
    response = admin_client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")
    assert sign_in(admin_client).status_code == 401
    assert sign_in(admin_client, password="ein-ganz-anderes-Passwort").status_code == 302


def test_session_cookie_is_httponly_samesite_lax_and_secure_under_https(app, client):
    # The test config's BASE_URL is https://news.example.org.
    create_admin(app)
    response = sign_in(client)
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


@pytest.mark.parametrize(
    ("base_url", "explicit", "secure"),
    [
        ("http://127.0.0.1:5000", None, False),
        ("https://news.example.org", False, False),
        ("http://127.0.0.1:5000", True, True),
    ],
)
def test_secure_cookie_follows_base_url_unless_configured(
    config, clock, tmp_path, base_url, explicit, secure
):
    from newsletter import create_app

    config["BASE_URL"] = base_url
    if explicit is not None:
        config["SESSION_COOKIE_SECURE"] = explicit
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "other"))
    assert app.config["SESSION_COOKIE_SECURE"] is secure


def test_admin_pages_are_not_cached_or_framed(app, admin_client):
    response = admin_client.get("/admin/")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# --- throttling -----------------------------------------------------------------------------


@pytest.fixture
def throttled(config):
    return limit(config, ADMIN_LOGIN_IP=6, ADMIN_LOGIN_EMAIL=3)


def _attempt(client, email: str, password: str, ip: str = "192.0.2.1") -> int:
    return sign_in(client, email, password, environ_base={"REMOTE_ADDR": ip}).status_code


def test_repeated_wrong_passwords_get_429_until_the_window_has_passed(throttled, app, client, clock):
    create_admin(app)
    assert [_attempt(client, ADMIN_EMAIL, "wrong-password-123") for _ in range(3)] == [401] * 3
    blocked = sign_in(client, ADMIN_EMAIL, "wrong-password-123", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert blocked.status_code == 429
    assert "Retry-After" not in blocked.headers
    assert 'name="password"' in blocked.get_data(as_text=True)  # the login page, saying to wait
    # While throttled even the right password is refused...
    assert _attempt(client, ADMIN_EMAIL, ADMIN_PASSWORD) == 429
    # ...and once the window has passed (the login throttle counts on the app's clock), it works again.
    clock.advance(hours=1, seconds=1)
    assert _attempt(client, ADMIN_EMAIL, ADMIN_PASSWORD) == 302


def test_only_failures_count(throttled, app, client):
    create_admin(app)
    for _ in range(5):
        assert _attempt(app.test_client(), ADMIN_EMAIL, ADMIN_PASSWORD) == 302
    assert _attempt(client, ADMIN_EMAIL, "wrong-password-123") == 401


def test_the_limit_per_client_ip_holds_across_addresses(throttled, app, client):
    create_admin(app)
    statuses = [_attempt(client, f"guess{i}@example.org", "wrong-password-123") for i in range(7)]
    assert statuses == [401] * 6 + [429]
    # Another client is not affected.
    assert _attempt(client, "guess9@example.org", "wrong-password-123", "198.51.100.7") == 401
    assert _attempt(client, ADMIN_EMAIL, ADMIN_PASSWORD, "198.51.100.7") == 302

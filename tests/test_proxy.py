"""Behind a reverse proxy: PROXY_FIX_X_FOR / PROXY_FIX_X_PROTO trust that many proxies (Werkzeug
ProxyFix), so the evidence and every per-client limit see the client, not the proxy (SPEC §2).
Without them a forged X-Forwarded-For changes nothing. Limits kept in ``memory://`` are per
process, which a production start warns about."""

from __future__ import annotations

import logging

import pytest
from flask import redirect, request, url_for
from sqlalchemy import select

from newsletter import create_app
from newsletter.delivery import sender
from newsletter.extensions import db
from newsletter.models import ConsentEvent
from newsletter.settings import ConfigError
from tests.support.admin import create_admin, sign_in
from tests.support.limits import limit
from tests.support.visitor import Visitor, confirm_link

#: What the test client's requests come from: the reverse proxy on this machine.
PROXY = "127.0.0.1"


def _behind_proxy(client, forwarded_for: str, language: str = "de") -> Visitor:
    visitor = Visitor(client, language)
    visitor.headers["X-Forwarded-For"] = forwarded_for
    return visitor


def _evidence_ips(app) -> list[tuple[str, str | None]]:
    with app.app_context():
        events = db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        return [(event.type.value, event.ip) for event in events]


@pytest.fixture
def one_proxy(config):
    config["PROXY_FIX_X_FOR"] = 1
    return config


def test_the_evidence_records_the_client_behind_the_proxy(one_proxy, app, client, outbox):
    visitor = _behind_proxy(client, "203.0.113.77")
    assert visitor.sign_up("anna@example.org").status_code == 200
    with app.app_context():
        sender.drain()
    assert visitor.confirm(confirm_link(outbox[-1])).status_code == 200
    assert _evidence_ips(app) == [("requested", "203.0.113.77"), ("confirmed", "203.0.113.77")]


def test_only_the_trusted_hops_count(one_proxy, app, client):
    # The client wrote the first value itself; the one trusted proxy appended the one it saw.
    visitor = _behind_proxy(client, "10.9.9.9, 203.0.113.77")
    assert visitor.sign_up("anna@example.org").status_code == 200
    assert _evidence_ips(app) == [("requested", "203.0.113.77")]


def test_a_forged_forwarded_for_is_ignored_without_a_trusted_proxy(app, client):
    assert app.config["PROXY_FIX_X_FOR"] == 0
    assert _behind_proxy(client, "203.0.113.77").sign_up("anna@example.org").status_code == 200
    assert _evidence_ips(app) == [("requested", PROXY)]


def test_a_forwarded_for_that_is_no_address_leaves_the_proxy_s(one_proxy, app, client):
    visitor = _behind_proxy(client, "<script>" + "x" * 300)
    assert visitor.sign_up("anna@example.org").status_code == 200
    assert _evidence_ips(app) == [("requested", PROXY)]


# --- per-client limits --------------------------------------------------------------------------


@pytest.fixture
def limited(config):
    """Small limits; the test names whether one proxy is trusted before ``app`` is built."""
    return limit(config, SUBSCRIBE=3, TOKEN_PAGES=3, ADMIN_LOGIN_IP=4)


@pytest.fixture
def limited_behind_proxy(limited):
    limited["PROXY_FIX_X_FOR"] = 1
    return limited


def _sign_ups(client, forwarded_for: str, count: int, start: int = 0) -> list[int]:
    visitor = _behind_proxy(client, forwarded_for)
    return [visitor.sign_up(f"{forwarded_for}-{i}@example.org").status_code for i in range(start, start + count)]


def test_two_clients_behind_one_proxy_get_separate_sign_up_limits(limited_behind_proxy, app, client):
    assert _sign_ups(client, "203.0.113.1", 4) == [200, 200, 200, 429]
    assert _sign_ups(client, "203.0.113.2", 1) == [200]


def test_without_a_trusted_proxy_a_forged_forwarded_for_gets_no_fresh_limit(limited, app, client):
    assert _sign_ups(client, "203.0.113.1", 4) == [200, 200, 200, 429]
    assert _sign_ups(client, "203.0.113.2", 1) == [429]


def test_two_clients_behind_one_proxy_get_separate_token_page_limits(limited_behind_proxy, app, client):
    first = {"X-Forwarded-For": "203.0.113.1"}
    assert [client.get("/confirm/not-a-token", headers=first).status_code for _ in range(4)] == [404] * 3 + [429]
    assert client.get("/confirm/not-a-token", headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 404


def _failed_sign_ins_until_throttled(client, forwarded_for: str) -> int:
    """Wrong passwords for ever new addresses from one client until it gets 429; how many."""
    for attempt in range(1, 50):
        status = sign_in(
            client, f"guess{attempt}@example.org", "wrong-password-123", headers={"X-Forwarded-For": forwarded_for}
        ).status_code
        if status == 429:
            return attempt
        assert status == 401
    raise AssertionError("never throttled")


def test_two_clients_behind_one_proxy_get_separate_admin_login_limits(limited_behind_proxy, app, client):
    create_admin(app)
    assert _failed_sign_ins_until_throttled(client, "203.0.113.1") <= 5
    other = {"X-Forwarded-For": "203.0.113.2"}
    assert sign_in(app.test_client(), "guess1@example.org", "wrong-password-123", headers=other).status_code == 401
    assert sign_in(app.test_client(), headers=other).status_code == 302


# --- X-Forwarded-Proto ----------------------------------------------------------------------------


def _add_scheme_routes(app) -> None:
    @app.get("/_test/scheme")
    def scheme():
        return {"secure": request.is_secure, "url": url_for("public.privacy", _external=True)}

    @app.get("/_test/redirect")
    def to_privacy():
        return redirect(url_for("public.privacy", _external=True))


@pytest.mark.parametrize(("trusted", "expected"), [(1, "https"), (0, "http")])
def test_forwarded_proto_makes_urls_and_redirects_https_only_when_trusted(config, clock, tmp_path, trusted, expected):
    config["PROXY_FIX_X_PROTO"] = trusted
    app = create_app(config, clock_=clock, instance_path=str(tmp_path / "proto"))
    _add_scheme_routes(app)
    client = app.test_client()
    proto = {"X-Forwarded-Proto": "https"}
    assert client.get("/_test/scheme", headers=proto).json == {
        "secure": expected == "https", "url": f"{expected}://localhost/privacy"
    }
    assert client.get("/_test/redirect", headers=proto).headers["Location"] == f"{expected}://localhost/privacy"


# --- configuration ------------------------------------------------------------------------------


def test_both_keys_default_to_no_trusted_proxy(app):
    assert (app.config["PROXY_FIX_X_FOR"], app.config["PROXY_FIX_X_PROTO"]) == (0, 0)


@pytest.mark.parametrize("key", ["PROXY_FIX_X_FOR", "PROXY_FIX_X_PROTO"])
@pytest.mark.parametrize("value", [-1, "1", True, 1.5, None])
def test_proxy_counts_must_be_whole_numbers_from_zero(config, tmp_path, key, value):
    config[key] = value
    with pytest.raises(ConfigError, match=key):
        create_app(config, instance_path=str(tmp_path / "bad"))


# --- limits in memory are per process -----------------------------------------------------------


def _production_like(tmp_path, **settings):
    return create_app({"SECRET_KEY": "s" * 32, **settings}, instance_path=str(tmp_path / "prod"))


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "RATELIMIT" in r.getMessage()]


def test_a_production_start_with_limits_in_memory_warns_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    app = _production_like(tmp_path)
    assert not app.testing and not app.debug
    [message] = _warnings(caplog)
    assert "memory://" in message and "RATELIMIT_STORAGE_URI" in message and "redis://" in message


@pytest.mark.parametrize(
    "settings",
    [{"TESTING": True}, {"DEBUG": True}, {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"},
     {"RATELIMIT_ENABLED": False}],
    ids=["testing", "debug", "redis", "limits-off"],
)
def test_no_warning_where_memory_limits_are_fine(tmp_path, caplog, settings):
    caplog.set_level(logging.WARNING)
    _production_like(tmp_path, **settings)
    assert _warnings(caplog) == []


def test_flask_commands_do_not_warn_about_limits_in_memory(tmp_path, caplog, monkeypatch):
    """The worker and send-digest serve no web clients: the warning would only be noise there."""
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # as Flask's `flask` command sets it
    _production_like(tmp_path)
    assert _warnings(caplog) == []

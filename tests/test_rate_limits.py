"""Per-client limits on the public forms, in memory or shared through Redis (SPEC §2)."""

from __future__ import annotations

import pytest

from newsletter import create_app
from newsletter.extensions import db, limiter
from tests.support import services
from tests.support.database import reset_database
from tests.support.limits import limit
from tests.support.visitor import Visitor, hidden_fields


def sign_ups(client, count: int) -> list[int]:
    visitor = Visitor(client)
    return [visitor.sign_up(f"user{i}@example.org").status_code for i in range(count)]


@pytest.fixture
def limited(config):
    return limit(config, SUBSCRIBE=5, TOKEN_PAGES=30)


def test_sign_ups_past_the_limit_get_a_plain_429(limited, app, client):
    assert sign_ups(client, 7) == [200] * 5 + [429, 429]
    page = Visitor(client).sign_up("late@example.org")
    assert page.status_code == 429
    assert "Zu viele Anfragen" in page.get_data(as_text=True)
    assert "Retry-After" not in page.headers  # no hint which limit fired


def test_limits_are_per_client(limited, app, client):
    assert sign_ups(client, 6)[-1] == 429
    other = app.test_client()
    page = other.get("/subscribe", environ_base={"REMOTE_ADDR": "192.0.2.9"})
    response = other.post(
        "/subscribe",
        data={**hidden_fields(page.get_data(as_text=True)), "email": "other@example.org"},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    assert response.status_code == 200


def test_limits_can_be_switched_off(config, app, client):
    assert app.config["RATELIMIT_ENABLED"] is False
    assert sign_ups(client, 8) == [200] * 8


def test_token_pages_are_limited_too(limited, app, client):
    statuses = [client.get("/confirm/not-a-token").status_code for _ in range(31)]
    assert statuses[:30] == [404] * 30 and statuses[30] == 429


def test_several_instances_share_limits_through_redis(limited, clock, tmp_path):
    services.require(services.reachable(services.REDIS_URI), "Redis (127.0.0.1:6379)")
    limited["RATELIMIT_STORAGE_URI"] = services.REDIS_URI
    first = create_app(limited, clock_=clock, instance_path=str(tmp_path / "a"))
    with first.app_context():
        reset_database(limited["SQLALCHEMY_DATABASE_URI"])
        limiter.reset()
    second = None
    try:
        assert sign_ups(first.test_client(), 3) == [200] * 3
        second = create_app(limited, clock_=clock, instance_path=str(tmp_path / "b"))
        assert sign_ups(second.test_client(), 3) == [200, 200, 429]
    finally:
        with first.app_context():
            limiter.reset()
            db.engine.dispose()
        if second is not None:  # its pooled connection would otherwise outlive the test
            with second.app_context():
                db.engine.dispose()

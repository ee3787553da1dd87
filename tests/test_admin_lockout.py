"""The admin login throttle: guessing is held back per client and per (address, client), yet a
stranger cannot lock the admin out, and a client that has not been failing always gets in
with the right password (issue 12, point 3). Windows run on the app's clock, never the wall's."""

from __future__ import annotations

import re
import threading

import pytest

from newsletter.extensions import db
from newsletter.settings import ConfigError
from tests.support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, csrf_token, post, sign_in
from tests.support.clients import client_from

WRONG = "not-the-password-at-all"
PER_CLIENT = 10
PER_ADDRESS = 5


@pytest.fixture
def limits(config):
    config.update(
        RATELIMIT_ADMIN_LOGIN_IP=f"{PER_CLIENT} per 15 minutes",
        RATELIMIT_ADMIN_LOGIN_EMAIL=f"{PER_ADDRESS} per 15 minutes",
    )
    return config


def _ip(n: int) -> str:
    return f"198.51.100.{n}"


def _status(app, ip: str, email: str = ADMIN_EMAIL, password: str = WRONG) -> int:
    return sign_in(client_from(app, ip), email, password).status_code


def _alert(response) -> str:
    return re.search(r'role="alert">([^<]*)<', response.get_data(as_text=True)).group(1)


@pytest.fixture
def production_limits(limits):
    limits["RATELIMIT_ENABLED"] = True  # the public forms' limits on, as in production
    return limits


def test_a_stranger_guessing_from_many_clients_cannot_lock_the_admin_out(production_limits, app):
    # The measured attack: 25 wrong passwords from 25 clients, then the right one from 8
    # fresh clients (it gave 429 for 6 of them).
    create_admin(app)
    assert [_status(app, _ip(n)) for n in range(1, 26)] == [401] * 25
    assert [_status(app, _ip(100 + n), password=ADMIN_PASSWORD) for n in range(8)] == [302] * 8


def test_clients_that_failed_for_an_address_under_attack_are_held_back(limits, app):
    # Once the address has PER_ADDRESS failures from anywhere, a client that failed for it
    # itself gets no further guess in the window, so a distributed guess is slowed down to
    # one guess per client; a client without failures of its own still gets in.
    create_admin(app)
    guessers = [_ip(n) for n in range(1, PER_ADDRESS + 1)]
    assert [_status(app, ip) for ip in guessers] == [401] * PER_ADDRESS
    assert [_status(app, ip) for ip in guessers] == [429] * PER_ADDRESS
    assert _status(app, guessers[0], password=ADMIN_PASSWORD) == 429
    assert _status(app, _ip(200), password=ADMIN_PASSWORD) == 302


def test_below_the_address_threshold_a_client_may_mistype_and_try_again(limits, app):
    create_admin(app)
    client = client_from(app, _ip(1))
    assert [sign_in(client, password=WRONG).status_code for _ in range(PER_ADDRESS - 1)] == [401] * 4
    assert sign_in(client).status_code == 302


def test_one_client_guessing_one_address_gets_429_even_with_ratelimit_disabled(limits, app, clock):
    # RATELIMIT_ENABLED=false (the test default) switches off the public forms' courtesy
    # limits, never the login throttle.
    assert app.config["RATELIMIT_ENABLED"] is False
    create_admin(app)
    guesser = client_from(app, _ip(1))
    statuses = [sign_in(guesser, password=WRONG).status_code for _ in range(PER_ADDRESS + 1)]
    assert statuses == [401] * PER_ADDRESS + [429]
    refused = sign_in(guesser)  # the right password from the failing client: it has to wait
    assert refused.status_code == 429
    assert 'name="password"' in refused.get_data(as_text=True)  # the login page, saying to wait
    assert "Retry-After" not in refused.headers
    assert _status(app, _ip(2), password=ADMIN_PASSWORD) == 302  # another client is not affected
    clock.advance(minutes=14)
    assert sign_in(guesser).status_code == 429
    clock.advance(minutes=1, seconds=1)  # the window has passed
    assert sign_in(guesser).status_code == 302


def test_one_client_guessing_many_addresses_gets_429_after_the_client_limit(limits, app):
    create_admin(app)
    guesser = client_from(app, _ip(1))
    statuses = [sign_in(guesser, f"guess{n}@example.org", WRONG).status_code for n in range(PER_CLIENT + 1)]
    assert statuses == [401] * PER_CLIENT + [429]
    assert sign_in(guesser).status_code == 429  # not even the admin's right password
    assert _status(app, _ip(2), password=ADMIN_PASSWORD) == 302


def test_clients_in_one_ipv6_64_count_as_one_client(limits, app):
    # One IPv6 subscriber line has a /64 (2^64 addresses); counting per address would give
    # a guesser a fresh client for every guess.
    create_admin(app)
    statuses = [_status(app, f"2001:db8:1:2::{n:x}", f"guess{n}@example.org") for n in range(PER_CLIENT + 1)]
    assert statuses == [401] * PER_CLIENT + [429]
    assert _status(app, "2001:db8:1:3::1", password=ADMIN_PASSWORD) == 302


def test_the_throttle_does_not_tell_whether_an_address_is_an_admin(limits, app):
    create_admin(app)
    admin_guesser, other_guesser = client_from(app, _ip(1)), client_from(app, _ip(2))
    admin_answers = [sign_in(admin_guesser, ADMIN_EMAIL, WRONG) for _ in range(PER_ADDRESS + 1)]
    other_answers = [sign_in(other_guesser, "nobody@example.org", WRONG) for _ in range(PER_ADDRESS + 1)]
    assert [r.status_code for r in admin_answers] == [r.status_code for r in other_answers]
    assert [r.status_code for r in admin_answers] == [401] * PER_ADDRESS + [429]
    assert [_alert(r) for r in admin_answers] == [_alert(r) for r in other_answers]


def test_only_failures_count_and_signing_in_forgets_the_clients_own(limits, app):
    create_admin(app)
    client = client_from(app, _ip(1))
    for _ in range(PER_ADDRESS + 3):
        assert sign_in(app.test_client()).status_code == 302
    assert [sign_in(client, password=WRONG).status_code for _ in range(PER_ADDRESS - 1)] == [401] * 4
    assert sign_in(client).status_code == 302
    post(client, "/admin/logout")
    # The mistakes before a successful sign-in no longer count against this client.
    assert [sign_in(client, password=WRONG).status_code for _ in range(PER_ADDRESS - 1)] == [401] * 4


def test_attempts_still_being_checked_count_so_parallel_guesses_cannot_overrun_the_limit(limits, app):
    # A guesser sending many requests at once: each one is counted (and committed) before
    # its password is checked, so requests running side by side see each other.
    from newsletter import loginthrottle

    create_admin(app)
    with app.app_context():
        for _ in range(PER_ADDRESS):
            assert loginthrottle.admit(ADMIN_EMAIL, _ip(1)) is not None
        db.session.commit()
    assert _status(app, _ip(1), password=ADMIN_PASSWORD) == 429
    assert _status(app, _ip(2), password=ADMIN_PASSWORD) == 302


@pytest.mark.parametrize("key", ["RATELIMIT_ADMIN_LOGIN_IP", "RATELIMIT_ADMIN_LOGIN_EMAIL"])
@pytest.mark.parametrize("value", ["", "lots", "5 per minute; 30 per hour", "0 per minute"])
def test_an_unusable_login_limit_stops_the_start(config, clock, tmp_path, key, value):
    from newsletter import create_app

    config[key] = value
    with pytest.raises(ConfigError, match=key):
        create_app(config, clock_=clock, instance_path=str(tmp_path / "other"))


def test_guesses_sent_side_by_side_get_no_more_tries_than_the_limit(limits, app):
    create_admin(app)
    guessers = [client_from(app, _ip(1)) for _ in range(3 * PER_ADDRESS)]
    tokens = [csrf_token(guesser) for guesser in guessers]
    start = threading.Barrier(len(guessers))
    statuses: list[int] = []

    def guess(guesser, token) -> None:
        start.wait()
        data = {"csrf_token": token, "email": ADMIN_EMAIL, "password": WRONG}
        statuses.append(guesser.post("/admin/login", data=data).status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(guessers, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) <= PER_ADDRESS

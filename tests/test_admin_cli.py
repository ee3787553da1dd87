"""``flask create-admin EMAIL [--password PW]``: create or reset an admin; weak passwords refused."""

from __future__ import annotations

import pytest

from newsletter import admins
from newsletter.extensions import db
from newsletter.models import AdminUser
from tests.support.admin import sign_in

EMAIL = "chef@example.org"
GOOD = "Sieben-Zwerge-hinter-den-Bergen"


def _admins(app) -> list[AdminUser]:
    with app.app_context():
        return list(db.session.execute(db.select(AdminUser)).scalars())


def test_create_admin_stores_only_a_hash_and_the_admin_can_sign_in(app, runner, client):
    result = runner.invoke(args=["create-admin", "Chef@Example.org", "--password", GOOD])
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    [admin] = _admins(app)
    assert admin.email == EMAIL  # normalised
    assert GOOD not in admin.password_hash
    assert admin.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert sign_in(client, EMAIL, GOOD).status_code == 302


def test_running_it_again_resets_the_password(app, runner, client):
    assert runner.invoke(args=["create-admin", EMAIL, "--password", GOOD]).exit_code == 0
    result = runner.invoke(args=["create-admin", EMAIL, "--password", "Schneewittchen-und-der-Spiegel"])
    assert result.exit_code == 0, result.output
    assert "reset" in result.output
    assert len(_admins(app)) == 1
    assert sign_in(client, EMAIL, GOOD).status_code == 401
    assert sign_in(client, EMAIL, "Schneewittchen-und-der-Spiegel").status_code == 302


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "empty"),
        ("            ", "empty"),
        ("kurz123", "at least 12"),
        ("password1234", "common"),
        ("Administrator", "common"),
        (EMAIL, "email"),
        ("CHEF@example.org", "email"),
        ("aaaaaaaaaaaaaaaa", "different characters"),
        ("x" * 300, "at most"),
    ],
)
def test_weak_passwords_are_refused_with_a_clear_message(app, runner, password, reason):
    result = runner.invoke(args=["create-admin", EMAIL, "--password", password])
    assert result.exit_code == 1
    assert "password refused" in result.output
    assert reason in result.output
    assert "Traceback" not in result.output
    assert _admins(app) == []


def test_a_weak_new_password_leaves_the_old_one_in_place(app, runner, client):
    assert runner.invoke(args=["create-admin", EMAIL, "--password", GOOD]).exit_code == 0
    assert runner.invoke(args=["create-admin", EMAIL, "--password", "short"]).exit_code == 1
    assert sign_in(client, EMAIL, GOOD).status_code == 302


def test_without_password_option_it_asks_twice_without_echo(app, runner):
    result = runner.invoke(args=["create-admin", EMAIL], input=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 0, result.output
    assert GOOD not in result.output  # hidden input
    assert "Repeat for confirmation" in result.output
    assert len(_admins(app)) == 1


def test_mistyped_confirmation_is_asked_again(app, runner):
    result = runner.invoke(args=["create-admin", EMAIL], input=f"{GOOD}\nsomething else\n{GOOD}\n{GOOD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert len(_admins(app)) == 1


def test_an_invalid_address_is_a_usage_error(app, runner):
    result = runner.invoke(args=["create-admin", "not-an-address", "--password", GOOD])
    assert result.exit_code == 2
    assert "Invalid value" in result.output
    assert _admins(app) == []


def test_password_rules_directly():
    assert admins.password_problem(GOOD, EMAIL) is None
    assert admins.password_problem("chef-" + "x" * 20, EMAIL) is None  # the local part alone is fine inside
    assert admins.password_problem("chef", EMAIL) is not None

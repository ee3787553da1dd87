"""Roles (SPEC §11): every admin page declares who may open it, an editor gets 403 on subscriber
data, bounce reports, the team and the audit log; the team page invites by mail (a set-password
link that expires and works once), changes roles, removes; never without an admin."""

from __future__ import annotations

import re

import pytest

from newsletter import admins
from newsletter.admin import roles
from newsletter.delivery import queue
from newsletter.extensions import db
from newsletter.models import (
    AdminRole,
    AdminUser,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestTrigger,
    MailKind,
    Subscriber,
)
from tests.support.admin import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    EDITOR_EMAIL,
    create_admin,
    csrf_token,
    post,
    sign_in,
)
from tests.support.factories import add_subscriber
from tests.support.flows import drain


def _admin_routes(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")]


def _path(rule) -> str:
    return rule.build({name: 1 for name in rule.arguments})[1]


def test_every_admin_view_declares_who_may_open_it(app):
    # Walks the URL map: a page added later without @allow(...) fails here.
    undeclared = [
        rule.endpoint for rule in _admin_routes(app) if roles.declared(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == []
    declared = {rule.endpoint: roles.declared(app.view_functions[rule.endpoint]) for rule in _admin_routes(app)}
    assert {endpoint for endpoint, role in declared.items() if role == roles.OPEN} == {
        "admin.login",
        "admin.login_code",
        "admin.set_password",
    }
    for endpoint in ("admin.subscriber_list", "admin.subscriber_download", "admin.team_list", "admin.audit_list"):
        assert declared[endpoint] == AdminRole.ADMIN
    for endpoint in ("admin.article_list", "admin.digest_send_now", "admin.feed_list"):
        assert declared[endpoint] == AdminRole.EDITOR


def test_a_view_without_a_declaration_opens_to_nobody(app, client):
    app.add_url_rule("/admin/forgotten", endpoint="admin.forgotten", view_func=lambda: "secret")
    create_admin(app)
    sign_in(client)
    response = client.get("/admin/forgotten")
    assert response.status_code == 403
    assert "secret" not in response.get_data(as_text=True)


@pytest.fixture
def editor_client(app, client):
    create_admin(app, EDITOR_EMAIL, ADMIN_PASSWORD, AdminRole.EDITOR)
    assert sign_in(client, EDITOR_EMAIL).status_code == 302
    return client


def test_an_editor_gets_403_on_everything_for_admins_only_and_opens_the_rest(app, editor_client, clock):
    with app.app_context():
        anna = add_subscriber("anna@example.org")
        db.session.commit()
        anna_id = anna.id
    token = csrf_token(editor_client, "/admin/")
    refused = 0
    for rule in _admin_routes(app):
        if rule.endpoint == "admin.logout":
            continue
        role = roles.declared(app.view_functions[rule.endpoint])
        path = _path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token} if method == "POST" else None
            response = editor_client.open(path, method=method, data=data)
            if role == AdminRole.ADMIN:
                assert response.status_code == 403, (method, path, response.status_code)
                assert "anna@example.org" not in response.get_data(as_text=True)
                refused += 1
            elif method == "GET" and role == AdminRole.EDITOR:
                assert response.status_code != 403, (method, path)
    assert refused >= 12
    # The editor's pages work, and the navigation leaves out what the role does not open.
    dashboard = editor_client.get("/admin/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "/admin/articles" in dashboard and "/admin/digests" in dashboard
    assert 'href="/admin/subscribers"' not in dashboard and 'href="/admin/admins"' not in dashboard
    assert editor_client.get(f"/admin/subscribers/{anna_id}").status_code == 403
    # A digest's failed mails name no subscriber to an editor; an admin sees the address.
    with app.app_context():
        issue = Digest(created_at=clock.now(), trigger=DigestTrigger.ADMIN, subject="Neu", recipient_count=1)
        db.session.add(issue)
        db.session.flush()
        failed = queue.enqueue(MailKind.DIGEST, db.session.get(Subscriber, anna_id), digest_id=issue.id)
        failed.status, failed.last_reply = DeliveryStatus.FAILED, "550 5.1.1 no such user"
        db.session.commit()
        issue_id = issue.id
    detail = editor_client.get(f"/admin/digests/{issue_id}").get_data(as_text=True)
    assert "550 5.1.1" in detail and "anna@example.org" not in detail
    create_admin(app)
    boss = app.test_client()
    sign_in(boss)
    assert "anna@example.org" in boss.get(f"/admin/digests/{issue_id}").get_data(as_text=True)
    with app.app_context():  # the withdrawal POST above changed nothing
        assert db.session.get(type(anna), anna_id).status.value == "confirmed"


def test_create_admin_takes_a_role(app, runner):
    result = runner.invoke(args=["create-admin", "ed@example.org", "--password", ADMIN_PASSWORD, "--role", "editor"])
    assert result.exit_code == 0, result.output
    assert "editor ed@example.org created" in result.output
    result = runner.invoke(args=["create-admin", "boss@example.org", "--password", ADMIN_PASSWORD])
    assert "admin boss@example.org created" in result.output
    bad = runner.invoke(args=["create-admin", "x@example.org", "--password", ADMIN_PASSWORD, "--role", "root"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    with app.app_context():
        assert admins.find_by_email("ed@example.org").role is AdminRole.EDITOR
        assert admins.find_by_email("boss@example.org").role is AdminRole.ADMIN
    # The last admin cannot be made an editor from the command line either.
    runner.invoke(args=["create-admin", "ed@example.org", "--password", ADMIN_PASSWORD, "--role", "admin"])
    runner.invoke(args=["create-admin", "boss@example.org", "--password", ADMIN_PASSWORD, "--role", "editor"])
    last = runner.invoke(args=["create-admin", "ed@example.org", "--password", ADMIN_PASSWORD, "--role", "editor"])
    assert last.exit_code == 1 and "last admin" in last.output


def _invite_link(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+(/admin/set-password/\S+)", body).group(1)


def test_an_invitation_is_mailed_by_the_worker_and_its_link_works_once_within_three_days(
    app, admin_client, outbox, clock
):
    response = post(
        admin_client,
        "/admin/admins/invite",
        {"email": "New.Editor@Example.org", "role": "editor"},
        form_page="/admin/admins",
    )
    assert response.status_code == 302
    assert outbox == []  # queued in the request's transaction, sent by the worker
    with app.app_context():
        [delivery] = db.session.execute(db.select(Delivery).filter_by(kind=MailKind.ADMIN_INVITE)).scalars()
        assert delivery.status is DeliveryStatus.QUEUED and delivery.to_address == "new.editor@example.org"
    drain(app)
    [message] = outbox
    assert message["To"] == "new.editor@example.org"
    assert message.get_body(("html",)) is not None
    link = _invite_link(message)
    assert "new.editor" not in link

    # Nobody signs in as the invited admin before they chose a password.
    fresh = app.test_client()
    assert sign_in(fresh, "new.editor@example.org", "").status_code in (401, 422)
    page = fresh.get(link)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    weak = fresh.post(link, data={"csrf_token": token, "password": "short", "again": "short"})
    assert weak.status_code == 422
    chosen = "Fenster-zum-Hof-1954!"
    done = fresh.post(link, data={"csrf_token": token, "password": chosen, "again": chosen})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/login"
    assert fresh.get(link).status_code == 410  # used
    assert sign_in(fresh, "new.editor@example.org", chosen).status_code == 302
    assert fresh.get("/admin/subscribers").status_code == 403  # an editor

    # A second invitation's link runs out after three days.
    post(
        admin_client, "/admin/admins/invite", {"email": "late@example.org", "role": "admin"}, form_page="/admin/admins"
    )
    drain(app)
    late_link = _invite_link(outbox[-1])
    clock.advance(days=3, seconds=1)
    expired = app.test_client().get(late_link)
    assert expired.status_code == 410
    assert app.test_client().get("/admin/set-password/forged").status_code == 410


def test_inviting_an_admin_twice_or_a_bad_address_gets_the_form_again(app, admin_client, outbox):
    again = post(
        admin_client, "/admin/admins/invite", {"email": ADMIN_EMAIL, "role": "editor"}, form_page="/admin/admins"
    )
    assert again.status_code == 409
    bad = post(
        admin_client, "/admin/admins/invite", {"email": "not an address", "role": "editor"}, form_page="/admin/admins"
    )
    assert bad.status_code == 422
    wrong_role = post(
        admin_client, "/admin/admins/invite", {"email": "x@example.org", "role": "root"}, form_page="/admin/admins"
    )
    assert wrong_role.status_code == 422
    with app.app_context():
        assert db.session.execute(db.select(Delivery)).first() is None


def _admin_id(app, email: str) -> int:
    with app.app_context():
        return admins.find_by_email(email).id


def test_the_last_admin_can_neither_drop_the_role_nor_remove_itself(app, admin_client):
    own = _admin_id(app, ADMIN_EMAIL)
    demoted = post(admin_client, f"/admin/admins/{own}/role", {"role": "editor"}, form_page="/admin/admins")
    assert demoted.status_code == 409
    removed = post(admin_client, f"/admin/admins/{own}/remove", form_page="/admin/admins")
    assert removed.status_code == 409
    with app.app_context():
        assert admins.find_by_email(ADMIN_EMAIL).role is AdminRole.ADMIN
    # An invited admin without a password does not count as one who can sign in.
    post(
        admin_client, "/admin/admins/invite", {"email": "soon@example.org", "role": "admin"}, form_page="/admin/admins"
    )
    assert (
        post(admin_client, f"/admin/admins/{own}/role", {"role": "editor"}, form_page="/admin/admins").status_code
        == 409
    )

    # With a second admin, the role changes and the removal go through; the removed admin's
    # session ends at once.
    create_admin(app, "second@example.org")
    second = _admin_id(app, "second@example.org")
    other = app.test_client()
    sign_in(other, "second@example.org")
    assert (
        post(admin_client, f"/admin/admins/{second}/role", {"role": "editor"}, form_page="/admin/admins").status_code
        == 302
    )
    assert other.get("/admin/admins").status_code == 403
    assert (
        post(admin_client, f"/admin/admins/{second}/role", {"role": "admin"}, form_page="/admin/admins").status_code
        == 302
    )
    assert other.get("/admin/admins").status_code == 200
    assert post(admin_client, f"/admin/admins/{second}/remove", form_page="/admin/admins").status_code == 302
    assert other.get("/admin/admins").status_code == 302  # signed out
    with app.app_context():
        assert db.session.get(AdminUser, second) is None

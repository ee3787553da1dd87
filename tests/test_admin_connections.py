"""/admin/connections (issue 18 points 1, 3): API tokens created (shown once), listed with
their last use and revoked; webhooks added (the secret shown once), tested, switched on again
after being disabled, removed, with their last deliveries and answers; each change in the
audit log. (Only admins open these pages: tests/test_admin_roles.py walks every route.)"""

from __future__ import annotations

import re

from sqlalchemy import select

from newsletter import clock as clock_module
from newsletter.extensions import db
from newsletter.models import ApiToken, AuditEvent, Webhook, WebhookMessage
from newsletter.webhooks import sending
from tests.support.admin import post
from tests.support.api import bearer, create_token


def _audited(app) -> list[tuple[str, str]]:
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(event.action, event.target) for event in events]


def test_tokens_are_created_listed_with_their_last_use_and_revoked(app, admin_client):
    page = admin_client.get("/admin/connections").get_data(as_text=True)
    assert "API" in page
    created = post(admin_client, "/admin/connections/tokens", {"name": "Shop", "scope": "write"},
                   form_page="/admin/connections")
    assert created.status_code == 200
    token = re.search(r"nl_[\w-]+", created.get_data(as_text=True)).group(0)
    assert admin_client.get("/api/v1/digests", headers=bearer(token)).status_code == 200
    listed = admin_client.get("/admin/connections").get_data(as_text=True)
    assert "Shop" in listed and token not in listed  # shown once only
    twice = post(admin_client, "/admin/connections/tokens", {"name": "Shop", "scope": "read"},
                 form_page="/admin/connections")
    assert twice.status_code == 422
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "Shop"))
    revoked = post(admin_client, f"/admin/connections/tokens/{token_id}/revoke", form_page="/admin/connections")
    assert revoked.status_code == 302
    assert admin_client.get("/api/v1/digests", headers=bearer(token)).status_code == 401
    assert _audited(app) == [("api-token.create", "api token Shop"), ("api-token.revoke", f"api token {token_id}")]


def test_webhooks_are_added_tested_reenabled_and_removed(app, clock, admin_client, http_server):
    url = http_server.serve("/hook")
    refused = post(admin_client, "/admin/connections/webhooks", {"url": "ftp://x.example/", "events": "digest.sent"},
                   form_page="/admin/connections")
    assert refused.status_code == 422
    nothing = post(admin_client, "/admin/connections/webhooks", {"url": url}, form_page="/admin/connections")
    assert nothing.status_code == 422
    added = post(admin_client, "/admin/connections/webhooks", {"url": url, "events": ["digest.sent"]},
                 form_page="/admin/connections")
    assert added.status_code == 200 and "whsec_" in added.get_data(as_text=True)
    with app.app_context():
        webhook_id = db.session.scalar(select(Webhook.id))
    detail = f"/admin/connections/webhooks/{webhook_id}"
    assert post(admin_client, f"{detail}/test", form_page=detail).status_code == 302
    with app.app_context():
        sending.deliver_due()
    page = admin_client.get(detail).get_data(as_text=True)
    assert "webhook.test" in page and ">200<" in page
    with app.app_context():
        webhook = db.session.get(Webhook, webhook_id)
        webhook.failing_since = webhook.disabled_at = clock_module.now()
        db.session.commit()
    english = {"Accept-Language": "en"}
    assert "every attempt failed" in admin_client.get("/admin/connections", headers=english).get_data(as_text=True)
    assert post(admin_client, f"{detail}/enable", form_page=detail).status_code == 302
    with app.app_context():
        assert db.session.get(Webhook, webhook_id).disabled_at is None
    assert post(admin_client, f"{detail}/remove", form_page=detail).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Webhook)) is None
        assert db.session.scalar(select(WebhookMessage)) is None
    assert admin_client.get(detail).status_code == 404
    assert [action for action, _target in _audited(app)] == [
        "webhook.add", "webhook.test", "webhook.enable", "webhook.remove"
    ]


def test_the_pages_need_an_admin(app, client):
    create_token(app)
    assert client.get("/admin/connections").status_code in (302, 401)

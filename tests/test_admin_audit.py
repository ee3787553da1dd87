"""The audit log (SPEC §11): every admin action that changes something is kept, who, when, what;
/admin/audit filters by admin, action and date; records go after EVIDENCE_RETENTION_DAYS."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from newsletter import admins, retention
from newsletter.extensions import db
from newsletter.models import AuditEvent
from tests.support.admin import ADMIN_EMAIL, create_admin, post, send_now, sign_in
from tests.support.factories import add_article, add_subscriber


def _events(app) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [(row.admin_email, row.action, row.target) for row in rows]


def _shown_actions(page: str) -> list[str]:
    return re.findall(r"<code>([a-z.-]+)</code>", page)


def test_send_now_withdrawal_on_behalf_and_role_changes_are_recorded_and_shown(app, admin_client, clock):
    with app.app_context():
        anna = add_subscriber("anna@example.org")
        add_article("Zinsen steigen")
        db.session.commit()
        anna_id = anna.id
    create_admin(app, "second@example.org")
    with app.app_context():
        second_id = admins.find_by_email("second@example.org").id

    assert send_now(admin_client).status_code == 302
    clock.advance(days=1)
    sign_in(admin_client)
    assert post(admin_client, f"/admin/subscribers/{anna_id}/withdraw").status_code == 302
    clock.advance(days=1)
    sign_in(admin_client)
    changed = post(admin_client, f"/admin/admins/{second_id}/role", {"role": "editor"}, form_page="/admin/admins")
    assert changed.status_code == 302
    # Looking changes nothing, so it is not recorded; a refused change neither.
    admin_client.get("/admin/subscribers")
    post(admin_client, f"/admin/admins/{second_id}/role", {"role": "root"}, form_page="/admin/admins")

    digest_events = [event for event in _events(app) if event[1] == "digest.send-now"]
    assert len(digest_events) == 1 and digest_events[0][0] == ADMIN_EMAIL
    assert (ADMIN_EMAIL, "subscriber.withdraw", f"subscriber {anna_id}") in _events(app)
    assert (ADMIN_EMAIL, "admin.role", f"admin {second_id}") in _events(app)
    assert [event[1] for event in _events(app)] == ["digest.send-now", "subscriber.withdraw", "admin.role"]
    with app.app_context():
        role_change = db.session.execute(db.select(AuditEvent).filter_by(action="admin.role")).scalar_one()
        assert role_change.detail == "second@example.org: admin -> editor"

    page = admin_client.get("/admin/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert _shown_actions(page) == ["admin.role", "subscriber.withdraw", "digest.send-now"]  # newest first
    assert "second@example.org: admin -&gt; editor" in page
    only = admin_client.get("/admin/audit?action=subscriber.withdraw").get_data(as_text=True)
    assert _shown_actions(only) == ["subscriber.withdraw"]
    first_day = (clock.now() - timedelta(days=2)).astimezone(ZoneInfo(app.config["TIMEZONE"])).date().isoformat()
    by_date = admin_client.get(f"/admin/audit?since={first_day}&until={first_day}").get_data(as_text=True)
    assert _shown_actions(by_date) == ["digest.send-now"]
    nobody = admin_client.get("/admin/audit?admin=second@example.org")
    assert nobody.status_code == 400  # not an admin the log names
    for bad in ("since=0001-01-01", "until=9999-12-31", "since=morgen", "before=-1"):
        assert admin_client.get(f"/admin/audit?{bad}").status_code == 400, bad


def test_the_log_keeps_who_after_the_admin_is_removed_and_forgets_after_the_evidence_period(app, admin_client, clock):
    create_admin(app, "second@example.org")
    other = app.test_client()
    sign_in(other, "second@example.org")
    with app.app_context():
        add_subscriber("anna@example.org")
        db.session.commit()
        anna_id = admins.find_by_email("second@example.org").id
    post(other, "/admin/admins/invite", {"email": "third@example.org", "role": "editor"}, form_page="/admin/admins")
    post(admin_client, f"/admin/admins/{anna_id}/remove", form_page="/admin/admins")
    assert ("second@example.org", "admin.invite") in [(e[0], e[1]) for e in _events(app)]

    clock.advance(days=app.config["EVIDENCE_RETENTION_DAYS"] - 1)
    sign_in(admin_client)  # the session ran out meanwhile
    post(
        admin_client,
        "/admin/admins/invite",
        {"email": "fourth@example.org", "role": "editor"},
        form_page="/admin/admins",
    )
    clock.advance(days=2)
    with app.app_context():
        report = retention.purge()
    assert report.audit_records == 2
    assert [event[1] for event in _events(app)] == ["admin.invite"]
    assert _events(app)[0][2] is not None and "fourth" not in _events(app)[0][2]

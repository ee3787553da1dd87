"""Only address failures are hard bounces (SPEC §10, issue 13 point 4).

A relay's permanent refusal (5xx) is read by its enhanced status code (RFC 3463), by the basic
code where it has none: 5.1.x, or 550/551/553 without one, say the address is bad and count a
hard bounce (BOUNCE_LIMIT of them suspend the reader); a refusal of the message or by policy
(552, 554, 5.3.x, 5.6.x, 5.7.x, …) fails that mail and counts none. When most of a digest's
recent mails fail the same way, the sender stops that digest: the rest is held, not failed,
the admin's digest page and ``send-digest`` say why, and an admin resumes it.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from newsletter import subscribers
from newsletter.delivery import holds, replies
from newsletter.delivery.sender import Sender
from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, Digest, SubscriberStatus
from tests.support.admin import post
from tests.support.factories import add_article
from tests.support.flows import add_readers, drain, queue_digest

#: Where the relay refuses a reader's mail, its reply, and whether that counts a hard bounce.
REFUSALS = [
    ("rcpt", "550 5.1.1 Recipient address rejected: User unknown", True),
    ("rcpt", "550 Requested action not taken: mailbox unavailable", True),
    ("rcpt", "551 User not local", True),
    ("rcpt", "553 Mailbox name not allowed", True),
    ("rcpt", "550 2.1.5 an enhanced code of another class than the reply code is none", True),
    ("data", "552 5.3.4 Message size exceeds fixed limit", False),
    ("data", "554 5.7.1 Message content rejected", False),
    ("rcpt", "550 5.7.1 Client host rejected: listed on a blocklist", False),
    ("data", "554 Transaction failed", False),
    ("data", "552 Requested mail action aborted: exceeded storage allocation", False),
    ("data", "550 5.6.0 Message could not be read", False),
    ("rcpt", "554 5.1.1 the enhanced code decides", True),
]


def statuses(app, digest_id: int) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Delivery.status, func.count()).where(Delivery.digest_id == digest_id).group_by(Delivery.status)
        ).all()
        db.session.commit()
    return {str(status): count for status, count in rows}


def only_digest(app) -> int:
    with app.app_context():
        return db.session.execute(select(Digest.id)).scalar_one()


def readers_as_bounced(app, emails: list[str]) -> list[tuple[int, SubscriberStatus]]:
    with app.app_context():
        found = [subscribers.find_by_email(email) for email in emails]
        return [(reader.bounce_count, reader.status) for reader in found]


def test_only_address_failures_count_a_hard_bounce(smtp_app, smtp_server, admin_client):
    """Every refused mail fails with the relay's reply, shown on the digest's page; only the
    address failures count a bounce and, at BOUNCE_LIMIT=1, suspend the reader."""
    smtp_app.config["BOUNCE_LIMIT"] = 1
    emails = queue_digest(smtp_app, len(REFUSALS) + 1)
    for email, (stage, reply, _bounce) in zip(emails, REFUSALS, strict=False):
        script = smtp_server.handler.rcpt_replies if stage == "rcpt" else smtp_server.handler.data_replies
        script[email] = reply
    report = drain(smtp_app)
    assert (report.sent, report.failed) == (1, len(REFUSALS))
    assert smtp_server.handler.recipient_counts() == {emails[-1]: 1}
    with smtp_app.app_context():
        found = [
            db.session.execute(
                select(Delivery.status, Delivery.last_reply).where(
                    Delivery.subscriber_id == subscribers.find_by_email(email).id
                )
            ).one()
            for email in emails[:-1]
        ]
        db.session.commit()
    assert [(str(status), reply) for status, reply in found] == [("failed", reply) for _, reply, _ in REFUSALS]
    assert readers_as_bounced(smtp_app, emails[:-1]) == [
        (1, SubscriberStatus.SUSPENDED) if bounce else (0, SubscriberStatus.CONFIRMED) for _, _, bounce in REFUSALS
    ]
    detail = admin_client.get(f"/admin/digests/{only_digest(smtp_app)}").get_data(as_text=True)
    for _stage, reply, _bounce in REFUSALS:
        assert reply in detail


@pytest.mark.parametrize(
    ("reply", "kind", "status"),
    [
        ("550 5.1.1 user unknown", replies.Kind.ADDRESS, "5.1.1"),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound", replies.Kind.ADDRESS, "5.1.10"),
        ("553 sorry, that domain isn't in my list of allowed rcpthosts", replies.Kind.ADDRESS, "553"),
        ("550 5.1.1 the first line\n5.1.1 the second", replies.Kind.ADDRESS, "5.1.1"),
        ("550 5.2.1 mailbox disabled", replies.Kind.MESSAGE, "5.2.1"),
        ("550 5.0.0 unspecified", replies.Kind.MESSAGE, "5.0.0"),
        ("554 5.7.1 rejected", replies.Kind.MESSAGE, "5.7.1"),
        ("552 too big", replies.Kind.MESSAGE, "552"),
        ("500 5.5.1 command unrecognised", replies.Kind.MESSAGE, "5.5.1"),
        ("550 5.1 not a status code", replies.Kind.ADDRESS, "550"),
        ("550 5.01.1 leading zero", replies.Kind.ADDRESS, "550"),
        ("550 5.1.1000 too long", replies.Kind.ADDRESS, "550"),
        ("550 5.1.1.", replies.Kind.ADDRESS, "550"),
        ("550 4.7.1 a temporary class in a permanent reply", replies.Kind.ADDRESS, "550"),
        ("554 2.1.1", replies.Kind.MESSAGE, "554"),
        ("552 5.3.4", replies.Kind.MESSAGE, "5.3.4"),
        ("550 5.3.4\x1b[31m", replies.Kind.ADDRESS, "550"),
        ("451 5.1.1 the basic code decides the class", replies.Kind.TEMPORARY, "451"),
        ("450 4.1.1 try later", replies.Kind.TEMPORARY, "4.1.1"),
        ("599", replies.Kind.MESSAGE, "599"),
        ("connection: ConnectionResetError()", None, None),
        ("250 ok", None, None),
        ("", None, None),
    ],
)
def test_a_reply_is_read_by_its_enhanced_status_code_first(reply, kind, status):
    parsed = replies.parse(reply)
    assert (parsed.kind if parsed else None, parsed.status if parsed else None) == (kind, status)


def test_a_digest_most_of_whose_mails_fail_the_same_way_is_stopped_and_the_rest_held(
    smtp_app, smtp_server, admin_client, runner
):
    """Once more than half of a window of its latest mails failed the same way (STOP_AT, and
    the few in flight beside them), the rest is held, no bounce counted; `send-digest` and the
    admin's page say why; nothing goes until an admin resumes the digest, then the rest goes."""
    readers = holds.WINDOW + 30
    with smtp_app.app_context():
        emails = add_readers(readers)
        add_article("Neuigkeiten")
        db.session.commit()
    smtp_server.handler.data_reply = "552 5.3.4 Message size exceeds fixed limit"
    result = runner.invoke(args=["send-digest"])
    digest_id = only_digest(smtp_app)
    counts = statuses(smtp_app, digest_id)
    failed = counts.get("failed", 0)
    assert holds.STOP_AT <= failed < holds.STOP_AT + smtp_app.config["MAIL_CONCURRENCY"], counts
    assert counts == {"failed": failed, "held": readers - failed}
    assert len(smtp_server.handler.refusals) == failed  # the held ones never reached the relay
    assert readers_as_bounced(smtp_app, emails) == [(0, SubscriberStatus.CONFIRMED)] * readers
    assert result.exit_code == 1, result.output
    assert "552 5.3.4 Message size exceeds fixed limit" in result.output
    assert f"held {readers - failed}" in result.output

    resume = f'action="/admin/digests/{digest_id}/resume"'
    detail = admin_client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)
    assert resume in detail and "552 5.3.4 Message size exceeds fixed limit" in detail
    progress = json.loads(admin_client.get(f"/admin/digests/{digest_id}/progress.json").data)
    assert (progress["held"], progress["queued"], progress["done"]) == (readers - failed, 0, True)

    assert drain(smtp_app).attempted == 0  # due, but held until an admin resumes the digest
    smtp_server.handler.data_reply = None  # the cause is fixed
    response = post(admin_client, f"/admin/digests/{digest_id}/resume", form_page=f"/admin/digests/{digest_id}")
    assert response.status_code == 302
    assert drain(smtp_app).sent == readers - failed
    assert statuses(smtp_app, digest_id) == {"failed": failed, "sent": readers - failed}
    assert resume not in admin_client.get(f"/admin/digests/{digest_id}").get_data(as_text=True)


def test_a_digest_is_stopped_by_more_than_half_of_its_latest_mails_refused_the_same_way():
    """Judged per digest over its latest WINDOW mails that reached the relay: exactly half is
    not enough, old failures leave the window, different codes and other digests do not add
    up, temporary refusals never count; address failures stop it too (a relay that says most
    of the list does not exist is broken, not the list)."""
    failed, sent, retrying = DeliveryStatus.FAILED, DeliveryStatus.SENT, DeliveryStatus.RETRYING
    too_big = "552 5.3.4 Message size exceeds fixed limit"

    def stops(watch: holds.Watch, digest_id: int, outcomes: list[tuple[DeliveryStatus, str | None]]) -> int | None:
        """After how many of ``outcomes`` the digest was stopped, None if not."""
        for number, (status, reply) in enumerate(outcomes, 1):
            if watch.note(digest_id, status, reply) is not None:
                return number
        return None

    half = holds.WINDOW // 2
    watch = holds.Watch()
    assert stops(watch, 1, [(sent, None), (failed, too_big)] * half * 4) is None
    assert stops(watch, 1, [(failed, too_big)]) == 1  # now 26 of the latest 50
    assert "26 of the latest 50 mails of this digest were refused with 5.3.4" in watch.stopped[1]
    assert too_big in watch.stopped[1]
    assert watch.note(1, failed, too_big) is None  # stopped once

    watch = holds.Watch()
    assert stops(watch, 1, [(failed, too_big)] * half + [(sent, None)] * holds.WINDOW) is None
    assert stops(watch, 1, [(failed, too_big)] * half) is None  # the first ones left the window
    assert stops(watch, 2, [(failed, too_big)] * half) is None  # another digest's count
    assert stops(watch, 1, [(failed, "554 5.7.1 Message content rejected")] * half) is None
    assert stops(watch, 1, [(retrying, "451 4.7.1 greylisted")] * holds.WINDOW) is None
    assert stops(watch, 1, [(failed, "452 4.2.2 gave up after the last retry")] * holds.WINDOW) is None

    watch = holds.Watch()
    assert stops(watch, 1, [(failed, "550 5.1.1 User unknown")] * holds.WINDOW) == holds.STOP_AT
    assert stops(watch, 2, [(failed, "554 Transaction failed\x1b[2J")] * holds.WINDOW) == holds.STOP_AT
    assert "refused with 554 (554 Transaction failed [2J)" in watch.stopped[2]  # no terminal escapes


def test_a_digest_resumed_while_the_sender_that_stopped_it_still_runs_goes_out(smtp_app, smtp_server):
    """The sender holds only the mails it had claimed by the stop; those it claims after it
    (resumed by an admin) go, judged afresh."""
    queue_digest(smtp_app, holds.WINDOW)
    digest_id = only_digest(smtp_app)
    smtp_server.handler.data_reply = "554 5.7.1 Message content rejected"
    with smtp_app.app_context(), Sender(smtp_app) as running:
        stopped = running.drain()
        assert stopped.failed + stopped.held == holds.WINDOW and stopped.held > 0
        smtp_server.handler.data_reply = None
        assert holds.resume(digest_id) == stopped.held
        db.session.commit()
        assert running.drain().sent == stopped.held
    assert statuses(smtp_app, digest_id) == {"failed": stopped.failed, "sent": stopped.held}


def test_send_digest_prints_a_relay_reply_without_its_control_characters(smtp_app, smtp_server, runner):
    """A relay's reply is hostile input: terminal escapes and line breaks in it never reach the
    operator's terminal when `send-digest` explains the mails not sent."""
    with smtp_app.app_context():
        emails = add_readers(2)
        add_article("Neuigkeiten")
        db.session.commit()
    smtp_server.handler.rcpt_replies[emails[0]] = "451 4.7.1 greylisted \x1b[2J\x1b]0;owned\x07 retry"
    result = runner.invoke(args=["send-digest"])
    assert result.exit_code == 0, result.output
    assert "1 will be retried after " in result.output, result.output
    assert "451 4.7.1 greylisted" in result.output and "retry" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output

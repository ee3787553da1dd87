"""Erasure (SPEC §7, COMPLIANCE items 27 and 34): nothing personal remains but a keyed hash,
no mail reaches the address again by any path, and signing up anew starts from scratch."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from newsletter import subscribers, suppression, tokens
from newsletter.extensions import db
from newsletter.models import (
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    MailKind,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.support.admin import post
from tests.support.factories import add_article
from tests.support.flows import drain, preferences_path, queue_digest, sign_up, sign_up_and_confirm
from tests.support.visitor import Visitor, carry_out_requests, hidden_fields, link_in

ADDRESS = "ann@example.org"
IP = "203.0.113.77"
BROWSER = "Anns Browser/7.1 (Testbed)"


@pytest.fixture
def ann_client(app):
    """A browser with a distinctive IP address and user agent, so traces of them can be found."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = IP
    return client


def ann_visitor(client) -> Visitor:
    visitor = Visitor(client)
    visitor.headers["User-Agent"] = BROWSER
    return visitor


def erase_through_the_page(app, client, subscriber_id: int):
    path = f"{preferences_path(app, subscriber_id)}/erase"
    return client.post(path, data=hidden_fields(client.get(path).get_data(as_text=True)))


def every_value(app) -> list[tuple[str, str, str]]:
    """(table, column, value) for every non-empty value in every table."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None:
                        found.append((table.name, column, json.dumps(value, default=str)))
    return found


def test_erasure_leaves_nothing_but_the_keyed_hash(smtp_config, app, smtp_server, ann_client):
    ann = sign_up_and_confirm(app, ann_visitor(ann_client), smtp_server.messages, ADDRESS)
    queue_digest(app)
    drain(app)  # the first digest reaches her
    # The second one is refused for now, with a reply naming her address, and waits for a retry.
    smtp_server.handler.rcpt_replies[ADDRESS] = f"451 4.2.0 <{ADDRESS}>: mailbox busy"
    queue_digest(app)
    drain(app)
    with app.app_context():
        waiting = db.session.execute(
            select(Delivery).where(Delivery.status == DeliveryStatus.RETRYING)
        ).scalar_one()
        assert ADDRESS in waiting.last_reply
    personal = re.compile(r"ann@example\.org|203\.0\.113|Anns Browser", re.IGNORECASE)
    traces = {table for table, _, value in every_value(app) if personal.search(value)}
    assert traces >= {"subscriber", "consent_event", "delivery"}  # the search finds them

    assert erase_through_the_page(app, ann_client, ann).status_code == 200

    leftovers = [(table, column) for table, column, value in every_value(app) if personal.search(value)]
    assert leftovers == []
    with app.app_context():
        (entry,) = db.session.execute(select(Suppression)).scalars().all()
        assert entry.address_hash == suppression.address_hash(ADDRESS) and entry.reason == "erased"
        subscriber = db.session.get(Subscriber, ann)
        assert subscriber.status is SubscriberStatus.ERASED and subscriber.email is None
        events = db.session.execute(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == ann).order_by(ConsentEvent.id)
        ).scalars().all()
        assert [(e.type, e.channel) for e in events][-1] == ("erased", "link")
        assert all(e.ip is None and e.user_agent is None and e.personal_salt is None for e in events)
        deliveries = db.session.execute(select(Delivery).order_by(Delivery.id)).scalars().all()
        sent, cancelled = DeliveryStatus.SENT, DeliveryStatus.CANCELLED
        assert [d.status for d in deliveries] == [sent, sent, cancelled]
        assert all(d.sent_text is None and d.to_address is None and d.last_reply is None for d in deliveries)


def test_erasure_keeps_the_evidence_chain_verifiable(app, runner, visitor, outbox):
    ann = sign_up_and_confirm(app, visitor, outbox, ADDRESS)
    sign_up_and_confirm(app, visitor, outbox, "bob@example.org")
    assert erase_through_the_page(app, visitor.client, ann).status_code == 200
    result = runner.invoke(args=["verify-evidence"])
    assert result.exit_code == 0, result.output
    assert "2 subscribers, 5 events" in result.output


def test_no_mail_reaches_an_erased_address_again(smtp_config, app, smtp_server, runner, tmp_path, ann_client):
    ann = sign_up_and_confirm(app, ann_visitor(ann_client), smtp_server.messages, ADDRESS)
    bob = sign_up_and_confirm(app, Visitor(app.test_client()), smtp_server.messages, "bob@example.org")
    queue_digest(app)  # queued for both, not sent yet
    ask = ann_client.get("/preferences")  # a fresh preferences link, queued
    ann_client.post("/preferences", data={**hidden_fields(ask.get_data(as_text=True)), "email": ADDRESS})
    carry_out_requests(app)
    assert erase_through_the_page(app, ann_client, ann).status_code == 200
    before = len(smtp_server.messages)

    drain(app)  # the queued digest and the queued preferences link
    queue_digest(app)  # the next digest's fan-out
    csv = tmp_path / "list.csv"
    csv.write_text(
        "email,consented_at,confirmed_at,ip,source\n"
        f"{ADDRESS.upper()},2024-05-01T10:00:00Z,2024-05-01T10:05:00Z,192.0.2.1,old-shop\n"
        f"{ADDRESS},,,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["import-subscribers", str(csv)])
    assert "0 confirmed, 0 pending" in result.output and "1 suppressed" in result.output
    drain(app)

    recipients = [str(m["To"]) for m in smtp_server.messages[before:]]
    assert recipients == ["bob@example.org", "bob@example.org"]
    with app.app_context():
        assert db.session.execute(select(Subscriber.id).where(Subscriber.email == ADDRESS)).first() is None
        latest = db.session.execute(select(Delivery).order_by(Delivery.id.desc())).scalars().first()
        assert latest.subscriber_id == bob
        queued_for_ann = db.session.execute(
            select(Delivery.kind, Delivery.status).where(Delivery.subscriber_id == ann).order_by(Delivery.id)
        ).all()
    assert (MailKind.DIGEST, DeliveryStatus.CANCELLED) in queued_for_ann
    assert (MailKind.PREFERENCES_LINK, DeliveryStatus.CANCELLED) in queued_for_ann


def test_every_old_link_stops_working(app, client, visitor, outbox):
    pending_link = sign_up(app, visitor, outbox, ADDRESS).split("news.example.org", 1)[1]
    with app.app_context():
        subscriber = subscribers.find_by_email(ADDRESS)
        unsubscribe = f"/unsubscribe/{tokens.make_unsubscribe_token(subscriber)}"
        subscriber_id = subscriber.id
    assert erase_through_the_page(app, client, subscriber_id).status_code == 200
    assert client.get(pending_link).status_code == 410
    page = client.get(unsubscribe)
    assert page.status_code == 200 and "<form" not in page.get_data(as_text=True)
    one_click = app.test_client(use_cookies=False).post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    with app.app_context():
        types = [e.type for e in db.session.execute(select(ConsentEvent)).scalars()]
        delivery = db.session.execute(select(Delivery)).scalar_one()
    assert types == ["requested", "erased"]  # no withdrawal recorded on an erased subscriber
    assert delivery.status is DeliveryStatus.SENT


def test_signing_up_anew_starts_from_scratch_and_lifts_the_suppression(smtp_config, app, smtp_server, ann_client):
    ann = sign_up_and_confirm(app, ann_visitor(ann_client), smtp_server.messages, ADDRESS)
    assert erase_through_the_page(app, ann_client, ann).status_code == 200

    visitor = Visitor(app.test_client())
    link = sign_up(app, visitor, smtp_server.messages, ADDRESS)
    with app.app_context():
        new = subscribers.find_by_email(ADDRESS)
        assert new.id != ann and new.status is SubscriberStatus.PENDING
        assert suppression.is_suppressed(ADDRESS)  # until the new double opt-in is done
        assert [e.type for e in db.session.execute(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == new.id)
        ).scalars()] == ["requested"]
    visitor.confirm(link)
    with app.app_context():
        assert subscribers.find_by_email(ADDRESS).status is SubscriberStatus.CONFIRMED
        assert not suppression.is_suppressed(ADDRESS)
        assert db.session.get(Subscriber, ann).email is None  # the old record stays anonymous
    queue_digest(app)
    drain(app)
    assert str(smtp_server.messages[-1]["To"]) == ADDRESS
    assert link_in(smtp_server.messages[-1], "unsubscribe")


def test_erasing_twice_records_one_erasure(app, visitor, outbox):
    ann = sign_up_and_confirm(app, visitor, outbox, ADDRESS)
    with app.app_context():
        subscriber = db.session.get(Subscriber, ann)
        assert subscribers.erase(subscriber, "admin") is True
        assert subscribers.erase(subscriber, "admin") is False
        db.session.commit()
        erased = db.session.execute(select(ConsentEvent).where(ConsentEvent.type == "erased")).scalars().all()
    assert len(erased) == 1 and erased[0].channel == "admin"


def test_not_even_an_admins_test_send_reaches_an_erased_address(app, visitor, outbox, admin_client):
    ann = sign_up_and_confirm(app, visitor, outbox, ADDRESS)
    assert erase_through_the_page(app, visitor.client, ann).status_code == 200
    with app.app_context():
        add_article("Neu")
        db.session.commit()
    sent_before = len(outbox)
    assert post(admin_client, "/admin/digests/test", {"email": ADDRESS}).status_code == 422  # refused
    assert post(admin_client, "/admin/digests/test", {"email": "chefin@example.org"}).status_code == 302
    drain(app)
    assert [str(m["To"]) for m in outbox[sent_before:]] == ["chefin@example.org"]
    with app.app_context():
        addresses = db.session.execute(
            select(Delivery.to_address).where(Delivery.kind == MailKind.DIGEST_TEST)
        ).scalars().all()
    assert addresses == ["chefin@example.org"]  # the erased address is not even stored
